import type { Pool, Queryable } from '../db.js';
import type { Envelope, EventBus } from '../ports.js';
import { DEAD_LETTER_ATTRIBUTES, REPLAY_CONSUMER_ATTRIBUTE, withoutAttributes } from './delivery.js';

export type DeadLetterStatus = 'pending' | 'replayed' | 'discarded';

export interface DeadLetterRow {
  id: string;
  topic: string;
  consumer: string;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
  event: unknown;
  status: DeadLetterStatus;
  /** The reason given for a discard. */
  status_reason: string | null;
  /** Who last replayed or discarded it, and when (from admin_actions). */
  status_by: string | null;
  status_at: string | null;
}

export interface DeadLetterFilter {
  topic?: string;
  consumer?: string;
  status?: DeadLetterStatus;
  cursor?: string;
  limit: number;
}

export class InvalidCursorError extends Error {}
export class DeadLetterStateError extends Error {}

const encodeCursor = (id: number) => Buffer.from(`dl:${id}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^dl:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidCursorError('cursor is not one this endpoint returned');
  return Number(match[1]);
}

/** A dead letter's columns, with the admin action that last changed its status. */
const LISTED = `SELECT d.id, d.topic, d.consumer, d.reason, d.attempts, d.first_failed_at, d.last_failed_at,
       d.event, d.status, d.status_reason, a.actor AS status_by, a.created_at AS status_at
     FROM dead_letters d
     LEFT JOIN LATERAL (
       SELECT actor, created_at FROM admin_actions
       WHERE target = 'dead_letter:' || d.id AND d.status <> 'pending' ORDER BY id DESC LIMIT 1
     ) a ON true`;

// biome-ignore lint/suspicious/noExplicitAny: a row of LISTED
const toDeadLetter = (r: any): DeadLetterRow => ({
  id: String(r.id),
  topic: r.topic,
  consumer: r.consumer,
  reason: r.reason,
  attempts: r.attempts,
  first_failed_at: new Date(r.first_failed_at).toISOString(),
  last_failed_at: new Date(r.last_failed_at).toISOString(),
  event: r.event,
  status: r.status,
  status_reason: r.status_reason ?? null,
  status_by: r.status_by ?? null,
  status_at: r.status_at ? new Date(r.status_at).toISOString() : null,
});

/** Newest first; `next_cursor` continues below the last id of the page. */
export async function listDeadLetters(pool: Queryable, filter: DeadLetterFilter) {
  const before = filter.cursor ? decodeCursor(filter.cursor) : null;
  const { rows } = await pool.query(
    `${LISTED}
     WHERE ($1::text IS NULL OR d.topic = $1) AND ($2::text IS NULL OR d.consumer = $2)
       AND ($3::text IS NULL OR d.status = $3) AND ($4::bigint IS NULL OR d.id < $4)
     ORDER BY d.id DESC LIMIT $5`,
    [filter.topic ?? null, filter.consumer ?? null, filter.status ?? null, before, filter.limit + 1],
  );
  const items = rows.slice(0, filter.limit).map(toDeadLetter);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > filter.limit && last ? encodeCursor(Number(last.id)) : null };
}

/** One dead letter; undefined when there is no such id. */
export async function getDeadLetter(pool: Queryable, id: string): Promise<DeadLetterRow | undefined> {
  if (!/^\d{1,18}$/.test(id)) return undefined;
  const { rows } = await pool.query(`${LISTED} WHERE d.id = $1`, [id]);
  return rows[0] ? toDeadLetter(rows[0]) : undefined;
}

/**
 * A dead letter as it arrives on `<topic>.dlq` under Dapr (the bus adapter adds the reason,
 * consumer and attempts as extension attributes): stored in the shape the embedded bus writes.
 * A redelivery of the same dead letter updates the pending row instead of adding one.
 */
export async function storeDeadLetter(pool: Pool, dlqTopic: string, event: Envelope, partitionKey?: string) {
  const topic = dlqTopic.replace(/\.dlq$/, '');
  const consumer = typeof event.deadletterconsumer === 'string' ? event.deadletterconsumer : 'unknown';
  const reason =
    typeof event.deadletterreason === 'string' ? event.deadletterreason : 'dead-lettered by the sidecar';
  const attempts = Number(event.deadletterattempts) || 1;
  const original = withoutAttributes(event, DEAD_LETTER_ATTRIBUTES);
  const key =
    partitionKey ??
    ((original.data as { user_id?: unknown } | null)?.user_id as string | undefined) ??
    original.subject ??
    original.id;
  await pool.query(
    `WITH updated AS (
       UPDATE dead_letters SET reason = $6, attempts = $7, last_failed_at = now(), updated_at = now()
       WHERE event_id = $4 AND consumer = $2 AND topic = $1 AND status = 'pending'
       RETURNING id
     )
     INSERT INTO dead_letters (topic, consumer, partition_key, event_id, event, reason, attempts, first_failed_at, last_failed_at)
     SELECT $1, $2, $3, $4, $5, $6, $7, now(), now() WHERE NOT EXISTS (SELECT 1 FROM updated)`,
    [topic, consumer, String(key), original.id, JSON.stringify(original), reason, attempts],
  );
}

async function audit(
  db: Queryable,
  actor: string,
  action: string,
  target: string,
  reason: string | null,
  details: unknown,
) {
  await db.query(
    'INSERT INTO admin_actions (actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5)',
    [actor, action, target, reason, JSON.stringify(details)],
  );
}

interface StoredDeadLetter {
  id: number;
  topic: string;
  consumer: string;
  partition_key: string;
  event: Envelope;
  status: DeadLetterStatus;
}

/**
 * Delivers the event again to the consumer that gave up on it: published on its original topic
 * with the `replayconsumer` attribute, so only that consumer runs its handler; its inbox makes a
 * second replay (or an earlier partial success) change nothing.
 */
async function redeliver(pool: Pool, bus: EventBus, row: StoredDeadLetter, actor: string) {
  const event: Envelope = {
    ...withoutAttributes(row.event, DEAD_LETTER_ATTRIBUTES),
    [REPLAY_CONSUMER_ATTRIBUTE]: row.consumer,
  };
  await bus.publish([{ topic: row.topic, partitionKey: row.partition_key, event }]);
  await pool.query(
    `UPDATE dead_letters SET status = 'replayed', status_reason = NULL, updated_at = now() WHERE id = $1`,
    [row.id],
  );
  await audit(pool, actor, 'dlq.replay', `dead_letter:${row.id}`, null, {
    topic: row.topic,
    consumer: row.consumer,
    event_id: row.event.id,
  });
}

const ROW = 'SELECT id, topic, consumer, partition_key, event, status FROM dead_letters';

/** Replays one dead letter; false when there is no such id. A discarded one is refused. */
export async function replayDeadLetter(
  pool: Pool,
  bus: EventBus,
  id: string,
  actor: string,
): Promise<boolean> {
  if (!/^\d{1,18}$/.test(id)) return false;
  const { rows } = await pool.query<StoredDeadLetter>(`${ROW} WHERE id = $1`, [id]);
  const row = rows[0];
  if (!row) return false;
  if (row.status === 'discarded') throw new DeadLetterStateError(`dead letter ${id} was discarded`);
  await redeliver(pool, bus, row, actor);
  return true;
}

/** Replays every pending dead letter of a topic, oldest first; returns how many. */
export async function replayTopic(pool: Pool, bus: EventBus, topic: string, actor: string): Promise<number> {
  const { rows } = await pool.query<StoredDeadLetter>(
    `${ROW} WHERE topic = $1 AND status = 'pending' ORDER BY id`,
    [topic],
  );
  for (const row of rows) await redeliver(pool, bus, row, actor);
  return rows.length;
}

/** Marks a dead letter as discarded, with the reason, and records who did it. */
export async function discardDeadLetter(
  pool: Pool,
  id: string,
  reason: string,
  actor: string,
): Promise<boolean> {
  if (!/^\d{1,18}$/.test(id)) return false;
  const { rows } = await pool.query<{ id: number; topic: string; consumer: string; event_id: string }>(
    `UPDATE dead_letters SET status = 'discarded', status_reason = $2, updated_at = now() WHERE id = $1
     RETURNING id, topic, consumer, event_id`,
    [id, reason],
  );
  const row = rows[0];
  if (!row) return false;
  await audit(pool, actor, 'dlq.discard', `dead_letter:${row.id}`, reason, {
    topic: row.topic,
    consumer: row.consumer,
    event_id: row.event_id,
  });
  return true;
}
