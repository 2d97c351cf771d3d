import type { Task } from '@taskstream/contracts';
import type { Pool, PoolClient } from '@taskstream/platform';
import { outboxValues, outboxWrites, writeOutbox } from './outbox.js';
import { messagesFor, type TaskChange } from './task-events.js';
import { TASK_COLUMNS, TASK_PLACEHOLDERS, taskValues } from './task-store.js';

export interface MutationOutcome<R> {
  result: R;
  /** What changed; nothing is published when absent (e.g. completing a completed task). */
  change?: { kind: TaskChange; before?: Task; after: Task };
}

/**
 * One transaction: the user's lock, the next sequence, the change, its outbox rows.
 * The advisory lock comes before any write so that one user's transactions take their
 * transaction ids in sequence order — the relay publishes in transaction id order.
 */
export async function mutate<R>(
  pool: Pool,
  onCommitted: () => void,
  userId: string,
  traceparent: string,
  work: (client: PoolClient, time: string) => Promise<MutationOutcome<R>>,
): Promise<R> {
  if (!UUID.test(userId)) throw new Error(`not a user id: ${userId}`);
  const client = await pool.connect();
  let published = false;
  try {
    // One round trip: the id is a checked UUID, so it can be written into the statement.
    await client.query(`BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('${userId}', 0))`);
    const time = new Date().toISOString();
    const outcome = await work(client, time);
    if (outcome.change) {
      const { kind, before, after } = outcome.change;
      // The sequence is taken and stamped on the events by the statement that writes them.
      await writeOutbox(client, userId, messagesFor(kind, before, after, { sequence: 0, traceparent, time }));
      published = true;
    }
    await client.query('COMMIT');
    if (published) onCommitted();
    return outcome.result;
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
 * task, the Idempotency-Key's record, the next sequence and the outbox rows, as `mutate` does in
 * four. Every write reads the lock's row, so the lock is held before the transaction takes its
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
  const [key, hash, response, topics, keys, events] = [
    NEXT,
    NEXT + 1,
    NEXT + 2,
    NEXT + 3,
    NEXT + 4,
    NEXT + 5,
  ].map((n) => `$${n}`);
  const text = `WITH user_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended($2::uuid::text, 0))),
     prior AS MATERIALIZED (
       SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $2 AND key = ${key}::text
     ), created AS (
       INSERT INTO tasks (${TASK_COLUMNS}) SELECT ${TASK_PLACEHOLDERS} FROM user_lock WHERE NOT EXISTS (SELECT 1 FROM prior)
       ON CONFLICT (id) DO NOTHING RETURNING id
     ), remembered AS (
       INSERT INTO idempotency_keys (user_id, key, request_hash, status, response)
       SELECT $2, ${key}, ${hash}::text, 201, ${response}::jsonb FROM created WHERE ${key}::text IS NOT NULL
     ), ${outboxWrites({ user: '$2::uuid', topics, keys, events, gate: 'created' })}
     SELECT (SELECT count(*) FROM created)::int AS created, (SELECT row_to_json(prior) FROM prior) AS prior`;
  const values = [
    ...taskValues(task),
    idempotency?.key ?? null,
    idempotency?.requestHash ?? null,
    idempotency ? JSON.stringify(task) : null,
    ...outboxValues(messages),
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
