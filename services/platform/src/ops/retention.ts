import type { Pool } from '../db.js';

/** Name of the daily event-log retention job; a one-off job named `event-log-retention<anything>` runs it now. */
export const EVENT_LOG_RETENTION_JOB = 'event-log-retention';
export const EVENT_LOG_RETENTION_SCHEDULE = '@daily';

/**
 * Deletes outbox rows published more than `days` ago and event-log rows older than that. An event-log row a
 * consumer still holds for a retry is kept. Deletes in slices so no transaction grows large.
 */
export async function pruneEventLog(
  pool: Pool,
  days: number,
  slice = 10_000,
): Promise<{ outbox: number; event_log: number }> {
  const removed = { outbox: 0, event_log: 0 };
  const has = async (t: string) =>
    (await pool.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [t])).rows[0]?.ok;
  if (await has('outbox')) {
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox WHERE published_at < now() - make_interval(days => $1) LIMIT $2)`,
        [days, slice],
      );
      removed.outbox += rowCount ?? 0;
      if ((rowCount ?? 0) < slice) break;
    }
  }
  if (await has('event_log')) {
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM event_log WHERE id IN (
           SELECT e.id FROM event_log e WHERE e.created_at < now() - make_interval(days => $1)
             AND NOT EXISTS (SELECT 1 FROM consumer_retries r WHERE r.event_log_id = e.id) LIMIT $2)`,
        [days, slice],
      );
      removed.event_log += rowCount ?? 0;
      if ((rowCount ?? 0) < slice) break;
    }
  }
  return removed;
}
