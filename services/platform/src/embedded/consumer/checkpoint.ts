import type { Pool } from '../../db.js';
import type { LogPosition, LogRow } from './log-reader.js';
import type { Parked } from './processor.js';

/**
 * The checkpoint: parks the events not handled and moves the consumer's checkpoint past the
 * batch (`last`), in one statement, so one transaction and one round trip (with nothing to park
 * the insert writes no row). A parked failure is due again after the first retry delay.
 */
export async function commitBatch(
  pool: Pool,
  c: { consumer: string; topic: string; firstRetryDelayMs: number; orderKeyOf(row: LogRow): string },
  last: LogPosition,
  parked: Parked[],
) {
  const { consumer, topic, orderKeyOf } = c;
  // The checkpoint only moves forwards: a commit of a process that has lost the consumer's
  // lock may land late.
  await pool.query({
    name: 'event_bus_commit_batch',
    text: `WITH parked AS (
       INSERT INTO consumer_retries (consumer, topic, event_log_id, partition_key, attempts, next_attempt_at, last_error, first_failed_at)
       SELECT $1, $2, p.id, p.key, CASE WHEN p.error IS NULL THEN 0 ELSE 1 END,
         CASE WHEN p.error IS NULL THEN NULL ELSE now() + make_interval(secs => $6::float8 / 1000) END,
         p.error, CASE WHEN p.error IS NULL THEN NULL ELSE now() END
       FROM unnest($3::bigint[], $4::text[], $5::text[]) AS p(id, key, error)
       ON CONFLICT DO NOTHING
     )
     UPDATE consumer_checkpoints SET tx = $7::xid8, last_id = $8, updated_at = now()
     WHERE consumer = $1 AND topic = $2 AND (tx, last_id) < ($7::xid8, $8::bigint)`,
    values: [
      consumer,
      topic,
      parked.map((p) => p.row.id),
      parked.map((p) => orderKeyOf(p.row)),
      parked.map((p) => p.error ?? null),
      c.firstRetryDelayMs,
      last.tx,
      last.id,
    ],
  });
}
