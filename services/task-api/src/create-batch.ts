import type { Task } from '@taskstream/contracts';
import { createGroupCommit, type EventBus, type Pool, withTransaction } from '@taskstream/platform';
import { type CreateOutcome, createTask } from './mutations.js';
import { nextSequences, userLock } from './sequence.js';
import { messagesFor } from './task-events.js';
import { TASK_COLUMNS } from './task-store.js';

/** Tasks written together in one statement, at most. */
const MAX_BATCH = 64;
/** Statements in flight at once: while they run, new creates gather into the next ones. */
const MAX_IN_FLIGHT = 4;

/**
 * Many users' new tasks in one statement of one transaction: each user's lock (in user order,
 * so two batches never wait on each other in a cycle), the tasks and each user's next sequence,
 * returned per created task for its events. The locks are taken (an InitPlan) before the first
 * write gives the transaction its id, as the bus's order needs. One user appears once per batch,
 * so one sequence per user is taken.
 */
const BATCH_SQL = `WITH input AS (
    SELECT * FROM jsonb_populate_recordset(NULL::tasks, $1::jsonb)
  ), user_locks AS MATERIALIZED (
    SELECT ${userLock('user_id')}
    FROM (SELECT DISTINCT user_id FROM input ORDER BY user_id) AS users
  ), created AS (
    INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${TASK_COLUMNS} FROM input WHERE (SELECT count(*) FROM user_locks) >= 0
    ON CONFLICT (id) DO NOTHING RETURNING id, user_id
  ), ${nextSequences('created')}
  SELECT id, sequence FROM task_sequences`;

interface Pending {
  task: Task;
  traceparent: string;
}

/**
 * Creates tasks. Concurrent creates of different users share one statement and one commit
 * (group commit, ADR 0027): at 64 clients that is one transaction and one WAL flush for many tasks
 * instead of one each; their events are published in it, in one call. A create with an Idempotency-Key takes the single-task statement, which answers
 * a key used before. A batch that fails is tried again task by task, so one bad task fails alone.
 */
export function createTaskWriter(pool: Pool, bus: EventBus) {
  const writeBatch = createGroupCommit<Pending, CreateOutcome>({
    maxBatch: MAX_BATCH,
    parallel: MAX_IN_FLIGHT,
    // One sequence per user per statement; the statement takes the user's lock, so a user's
    // creates may be in several batches at once.
    keyOf: (p) => p.task.user_id,
    onePerKey: true,
    waitForKeyInFlight: false,
    async write(batch) {
      const created = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ id: string; sequence: number }>({
          name: 'task_api_create_tasks',
          text: BATCH_SQL,
          values: [JSON.stringify(batch.map((p) => p.task))],
        });
        const sequences = new Map(rows.map((r) => [r.id, r.sequence]));
        await bus.publishInTransaction(
          tx,
          batch.flatMap(({ task, traceparent }) => {
            const sequence = sequences.get(task.id);
            if (sequence === undefined) return [];
            return messagesFor('created', undefined, task, { sequence, traceparent, time: task.updated_at });
          }),
        );
        return sequences;
      });
      return batch.map((p): CreateOutcome => ({ kind: created.has(p.task.id) ? 'created' : 'exists' }));
    },
  });

  return function create(
    task: Task,
    traceparent: string,
    idempotency?: { key: string; requestHash: string },
  ): Promise<CreateOutcome> {
    if (idempotency) return createTask(pool, bus, task, traceparent, idempotency);
    return writeBatch({ task, traceparent });
  };
}

export type TaskWriter = ReturnType<typeof createTaskWriter>;
