import type { Task } from '@taskstream/contracts';
import type { OutgoingMessage, Pool } from '@taskstream/platform';
import { type CreateOutcome, createTask } from './mutations.js';
import { outboxMessages, outboxWrites, userLock } from './outbox.js';
import { messagesFor } from './task-events.js';
import { TASK_COLUMNS } from './task-store.js';

/** Tasks written together in one statement, at most. */
const MAX_BATCH = 64;
/** Statements in flight at once: while they run, new creates gather into the next ones. */
const MAX_IN_FLIGHT = 4;

/**
 * Many users' new tasks in one statement and one transaction: each user's lock (in user order,
 * so two batches never wait on each other in a cycle), the tasks, each user's next sequence and
 * the outbox rows. The locks are taken (an InitPlan) before the first write gives the
 * transaction its id, as the relay's order needs. One user appears once per batch, so one
 * sequence per user is taken.
 */
const BATCH_SQL = `WITH input AS (
    SELECT * FROM jsonb_populate_recordset(NULL::tasks, $1::jsonb)
  ), user_locks AS MATERIALIZED (
    SELECT ${userLock('user_id')}
    FROM (SELECT DISTINCT user_id FROM input ORDER BY user_id) AS users
  ), created AS (
    INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${TASK_COLUMNS} FROM input WHERE (SELECT count(*) FROM user_locks) >= 0
    ON CONFLICT (id) DO NOTHING RETURNING id, user_id
  ), ${outboxWrites({ messages: '$2', gate: 'created' })}
  SELECT id FROM created`;

interface Pending {
  task: Task;
  messages: OutgoingMessage[];
  resolve: (outcome: CreateOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Creates tasks. Concurrent creates of different users share one statement and one commit
 * (group commit): at 64 clients that is one round trip and one WAL flush for many tasks instead
 * of one each. A create with an Idempotency-Key takes the single-task statement, which answers
 * a key used before. A batch that fails is tried again task by task, so one bad task fails alone.
 */
export function createTaskWriter(pool: Pool, onCommitted: () => void) {
  let queue: Pending[] = [];
  let inFlight = 0;

  async function write(batch: Pending[]) {
    try {
      const { rows } = await pool.query<{ id: string }>({
        name: 'task_api_create_tasks',
        text: BATCH_SQL,
        values: [
          JSON.stringify(batch.map((p) => p.task)),
          outboxMessages(batch.map((p) => ({ taskId: p.task.id, messages: p.messages }))),
        ],
      });
      const created = new Set(rows.map((r) => r.id));
      if (created.size > 0) onCommitted();
      for (const p of batch) p.resolve({ kind: created.has(p.task.id) ? 'created' : 'exists' });
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) await write([p]);
    }
  }

  function pump() {
    while (inFlight < MAX_IN_FLIGHT && queue.length > 0) {
      const batch: Pending[] = [];
      const later: Pending[] = [];
      const users = new Set<string>();
      for (const p of queue) {
        if (batch.length < MAX_BATCH && !users.has(p.task.user_id)) {
          batch.push(p);
          users.add(p.task.user_id);
        } else later.push(p);
      }
      queue = later;
      inFlight++;
      void write(batch).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  return function create(
    task: Task,
    traceparent: string,
    idempotency?: { key: string; requestHash: string },
  ): Promise<CreateOutcome> {
    if (idempotency) return createTask(pool, onCommitted, task, traceparent, idempotency);
    const messages = messagesFor('created', undefined, task, {
      sequence: 0,
      traceparent,
      time: task.updated_at,
    });
    return new Promise((resolve, reject) => {
      queue.push({ task, messages, resolve, reject });
      pump();
    });
  };
}

export type TaskWriter = ReturnType<typeof createTaskWriter>;
