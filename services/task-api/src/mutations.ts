import type { Task } from '@taskstream/contracts';
import type { Pool } from '@taskstream/platform';
import { outboxMessages, outboxWrites } from './outbox.js';
import { messagesFor, type TaskChange } from './task-events.js';
import { TASK_COLUMNS, TASK_PLACEHOLDERS, type TaskRow, taskValues, toTask } from './task-store.js';

/** What a change to an existing task decided: nothing (the task as it is), or a new version. */
export type TaskDecision = { unchanged: Task } | { kind: Exclude<TaskChange, 'created'>; after: Task };

/**
 * Changes one task of a user in one transaction of three round trips: (1) begin, the user's
 * lock and the task's row locked and read; (2) the new version and its outbox rows (the user's
 * next sequence stamped on them) in one statement; (3) commit. `decide` sees the task as
 * locked (undefined when the user has no such live task) and returns the change, or throws
 * (404, 412) to roll back. The advisory lock comes before any write so that one user's
 * transactions take their ids in sequence order: the relay publishes in transaction id order.
 */
export async function changeTask(
  pool: Pool,
  onCommitted: () => void,
  userId: string,
  taskId: string,
  traceparent: string,
  decide: (before: Task | undefined, time: string) => TaskDecision,
): Promise<Task> {
  if (!UUID.test(userId)) throw new Error(`not a user id: ${userId}`);
  if (!UUID.test(taskId)) {
    const decision = decide(undefined, new Date().toISOString());
    if ('unchanged' in decision) return decision.unchanged;
    throw new Error(`not a task id: ${taskId}`);
  }
  const client = await pool.connect();
  try {
    // Checked UUIDs only are written into this text: three statements, one round trip.
    const results = (await client.query(
      `BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('${userId}', 0));
       SELECT ${TASK_COLUMNS} FROM tasks WHERE id = '${taskId}' AND user_id = '${userId}' AND deleted_at IS NULL FOR UPDATE`,
    )) as unknown as { rows: TaskRow[] }[];
    const row = results[2]?.rows[0];
    const before = row ? toTask(row) : undefined;
    const time = new Date().toISOString();
    const decision = decide(before, time);
    if ('unchanged' in decision) {
      await client.query('COMMIT');
      return decision.unchanged;
    }
    const { kind, after } = decision;
    const messages = messagesFor(kind, before, after, { sequence: 0, traceparent, time });
    // A deletion leaves a tombstone; any other change writes the new version whole.
    const [write, values] =
      kind === 'deleted'
        ? [
            'UPDATE tasks SET deleted_at = $3::timestamptz, version = $4::int, updated_at = $3::timestamptz WHERE id = $1 AND user_id = $2',
            [after.id, after.user_id, after.updated_at, after.version],
          ]
        : [
            `UPDATE tasks SET (${TASK_COLUMNS}) = (${TASK_PLACEHOLDERS}) WHERE id = $1 AND user_id = $2`,
            taskValues(after),
          ];
    await client.query({
      name: `task_api_change_task_${kind === 'deleted' ? 'delete' : 'save'}`,
      text: `WITH saved AS (${write} RETURNING id, user_id),
        ${outboxWrites({ messages: `$${values.length + 1}`, gate: 'saved' })}
        SELECT 1`,
      values: [...values, outboxMessages([{ taskId: after.id, messages }])],
    });
    await client.query('COMMIT');
    onCommitted();
    return after;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
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
 * A new task in one statement, so one round trip and its own transaction: the user's lock, the
 * task, the Idempotency-Key's record, the next sequence and the outbox rows. Every write reads the lock's row, so the lock is held before the transaction takes its
 * id (the relay's order). The statement's snapshot predates the lock: a concurrent request with
 * the same key then fails on the key's primary key, and is run again to see the first answer.
 */
export async function createTask(
  pool: Pool,
  onCommitted: () => void,
  task: Task,
  traceparent: string,
  idempotency?: { key: string; requestHash: string },
): Promise<CreateOutcome> {
  const messages = messagesFor('created', undefined, task, {
    sequence: 0,
    traceparent,
    time: task.updated_at,
  });
  const [key, hash, response, outbox] = [NEXT, NEXT + 1, NEXT + 2, NEXT + 3].map((n) => `$${n}`);
  const text = `WITH user_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended($2::uuid::text, 0))),
     prior AS MATERIALIZED (
       SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $2 AND key = ${key}::text
     ), created AS (
       INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${TASK_PLACEHOLDERS} FROM user_lock WHERE NOT EXISTS (SELECT 1 FROM prior)
       ON CONFLICT (id) DO NOTHING RETURNING id, user_id
     ), remembered AS (
       INSERT INTO idempotency_keys (user_id, key, request_hash, status, response)
       SELECT $2, ${key}, ${hash}::text, 201, ${response}::jsonb FROM created WHERE ${key}::text IS NOT NULL
     ), ${outboxWrites({ messages: outbox, gate: 'created' })}
     SELECT (SELECT count(*) FROM created)::int AS created, (SELECT row_to_json(prior) FROM prior) AS prior`;
  const values = [
    ...taskValues(task),
    idempotency?.key ?? null,
    idempotency?.requestHash ?? null,
    idempotency ? JSON.stringify(task) : null,
    outboxMessages([{ taskId: task.id, messages }]),
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ created: number; prior: IdempotentReply | null }>({
        name: 'task_api_create_task',
        text,
        values,
      });
      const row = rows[0]!;
      if (row.prior) return { kind: 'replayed', prior: row.prior };
      if (row.created === 0) return { kind: 'exists' };
      onCommitted();
      return { kind: 'created' };
    } catch (err) {
      const code = (err as { code?: string; constraint?: string }).code;
      if (idempotency && code === '23505' && attempt < 3) continue;
      throw err;
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
