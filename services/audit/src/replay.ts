import type { Pool, ReplayApply } from '@taskstream/platform';
import { type createRecorder, entryOf } from './ingest.js';

/**
 * What a replay of the event log does to the audit trail: each task event the trail records
 * goes through the recorder, whose (event id, time) check skips what is already there; a dry
 * run only counts (ADR 0024).
 */
export function auditReplay(pool: Pool, record: ReturnType<typeof createRecorder>): ReplayApply {
  return async (events, dryRun, summary) => {
    const entries = [];
    for (const event of events) {
      try {
        const entry = entryOf(event);
        if (entry) entries.push(entry);
        else summary.ignored++;
      } catch {
        summary.invalid++;
      }
    }
    if (dryRun) {
      const { rows } = await pool.query<{ i: number }>(
        `SELECT k.i::int AS i FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS k(event_id, time, i)
         WHERE EXISTS (SELECT 1 FROM audit_logs a WHERE a.event_id = k.event_id AND a.time = k.time)`,
        [entries.map((e) => e.event_id), entries.map((e) => e.time)],
      );
      summary.skipped_as_duplicate += rows.length;
      summary.applied += entries.length - rows.length;
      return;
    }
    // The recorder writes what arrives together in one transaction, in this order.
    const outcomes = await Promise.all(entries.map((entry) => record(entry)));
    for (const outcome of outcomes) {
      if (outcome === 'inserted') summary.applied++;
      else summary.skipped_as_duplicate++;
    }
  };
}
