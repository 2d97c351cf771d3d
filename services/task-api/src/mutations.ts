import type { Task } from '@taskstream/contracts';
import { conflict, type EventBus, type Pool, withTransaction } from '@taskstream/platform';
import { nextSequences, userLock } from './sequence.js';
import { messagesFor, type TaskChange } from './task-events.js';
import { findTask, isUuid, TASK_COLUMNS, TASK_PLACEHOLDERS, taskValues } from './task-store.js';

/** What a change to an existing task decided: nothing (the task as it is), or a new version. */
export type TaskDecision = { unchanged: Task } | { kind: Exclude<TaskChange, 'created'>; after: Task };

/** A change re-reads and decides again at most this often when other changes keep landing first. */
const CHANGE_ATTEMPTS = 20;

/**
 * Changes one task of a user: read the task, `decide`, then a transaction of one statement that
 * takes the user's lock, writes the new version only if the task is still the version read and
 * takes the user's next sequence, and the task's events under that sequence, published in the
 * transaction. When another change landed in between, nothing is written and it reads and
 * decides again. So the user's lock is held for one statement, the publish and the commit,
 * never across a decision. `decide` sees the task (undefined when the user has no such live
 * task) and returns the change, or throws (404, 412) to stop; it may run more than once. The
 * lock comes before any write so that one user's transactions take their ids in sequence order:
 * the bus publishes one key's transactions in id order. The statement's snapshot predates the
 * lock; the update re-checks the version on the row's latest version, as PostgreSQL does for an
 * updated row.
 */
export async function changeTask(
  pool: Pool,
  bus: EventBus,
  userId: string,
  taskId: string,
  traceparent: string,
  decide: (before: Task | undefined, time: string) => TaskDecision,
): Promise<Task> {
  if (!isUuid(userId)) throw new Error(`not a user id: ${userId}`);
  for (let attempt = 1; ; attempt++) {
    const before = await findTask(pool, userId, taskId);
    const time = new Date().toISOString();
    const decision = decide(before, time);
    if ('unchanged' in decision) return decision.unchanged;
    if (!before) throw new Error(`no task ${taskId} to change`);
    const { kind, after } = decision;
    // A deletion leaves a tombstone; any other change writes the new version whole.
    const [write, values] =
      kind === 'deleted'
        ? [
            'UPDATE tasks SET deleted_at = $3::timestamptz, version = $4::int, updated_at = $3::timestamptz',
            [after.id, after.user_id, after.updated_at, after.version],
          ]
        : [`UPDATE tasks SET (${TASK_COLUMNS}) = (${TASK_PLACEHOLDERS})`, taskValues(after)];
    const read = `$${values.length + 1}`;
    const saved = await withTransaction(pool, async (tx) => {
      const { rows } = await tx.query<{ sequence: number }>({
        name: `task_api_change_task_${kind === 'deleted' ? 'delete' : 'save'}`,
        text: `WITH user_lock AS MATERIALIZED (SELECT ${userLock('$2::uuid')}),
          saved AS (
            ${write} FROM user_lock
            WHERE tasks.id = $1 AND tasks.user_id = $2 AND tasks.version = ${read}::int AND tasks.deleted_at IS NULL
            RETURNING tasks.id, tasks.user_id
          ), ${nextSequences('saved')}
          SELECT sequence FROM task_sequences`,
        values: [...values, before.version],
      });
      const sequence = rows[0]?.sequence;
      if (sequence === undefined) return false;
      await bus.publishInTransaction(tx, messagesFor(kind, before, after, { sequence, traceparent, time }));
      return true;
    });
    if (saved) return after;
    if (attempt >= CHANGE_ATTEMPTS) {
      throw conflict('the task kept changing while this change was made; try again');
    }
  }
}

/** What an Idempotency-Key answered the first time. */
export interface IdempotentReply {
  request_hash: string;
  status: number;
  response: Task;
}

export type CreateOutcome =
  | { kind: 'created' }
  /** The Idempotency-Key was used before: what it answered then. */
  | { kind: 'replayed'; prior: IdempotentReply }
  /** A task with this id exists (a replayed occurrence): nothing written. */
  | { kind: 'exists' };

const NEXT = TASK_COLUMNS.split(',').length + 1;

/**
 * A new task in a transaction of one statement and its events: the user's lock, the task, the
 * Idempotency-Key's record and the next sequence, then the task's events under that sequence,
 * published in the transaction. Every write reads the lock's row, so the lock is held before the
 * transaction takes its id (the bus's order). The statement's snapshot predates the lock: a
 * concurrent request with the same key then fails on the key's primary key, and is run again to
 * see the first answer.
 */
export async function createTask(
  pool: Pool,
  bus: EventBus,
  task: Task,
  traceparent: string,
  idempotency?: { key: string; requestHash: string },
): Promise<CreateOutcome> {
  const [key, hash, response] = [NEXT, NEXT + 1, NEXT + 2].map((n) => `$${n}`);
  const text = `WITH user_lock AS MATERIALIZED (SELECT ${userLock('$2::uuid')}),
     prior AS MATERIALIZED (
       SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $2 AND key = ${key}::text
     ), created AS (
       INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${TASK_PLACEHOLDERS} FROM user_lock WHERE NOT EXISTS (SELECT 1 FROM prior)
       ON CONFLICT (id) DO NOTHING RETURNING id, user_id
     ), remembered AS (
       INSERT INTO idempotency_keys (user_id, key, request_hash, status, response)
       SELECT $2, ${key}, ${hash}::text, 201, ${response}::jsonb FROM created WHERE ${key}::text IS NOT NULL
     ), ${nextSequences('created')}
     SELECT (SELECT sequence FROM task_sequences) AS sequence, (SELECT row_to_json(prior) FROM prior) AS prior`;
  const values = [
    ...taskValues(task),
    idempotency?.key ?? null,
    idempotency?.requestHash ?? null,
    idempotency ? JSON.stringify(task) : null,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, async (tx): Promise<CreateOutcome> => {
        const { rows } = await tx.query<{ sequence: number | null; prior: IdempotentReply | null }>({
          name: 'task_api_create_task',
          text,
          values,
        });
        const row = rows[0]!;
        if (row.prior) return { kind: 'replayed', prior: row.prior };
        if (row.sequence === null) return { kind: 'exists' };
        const time = task.updated_at;
        await bus.publishInTransaction(
          tx,
          messagesFor('created', undefined, task, { sequence: row.sequence, traceparent, time }),
        );
        return { kind: 'created' };
      });
    } catch (err) {
      const code = (err as { code?: string; constraint?: string }).code;
      if (idempotency && code === '23505' && attempt < 3) continue;
      throw err;
    }
  }
}
