import { EventSchemas, eventName, TopicEvents } from '@taskstream/contracts';
import type { Pool, ReplayApply } from '@taskstream/platform';
import { storeEvents } from './history.js';
import type { SyncedEvent } from './protocol.js';

const SYNCED = new Set<string>(TopicEvents['task-updates']);

/**
 * What a replay of the event log does to the sync history: each synced event is stored unless
 * sync_inbox has it; a dry run only counts (ADR 0024).
 */
export function syncReplay(pool: Pool, historySize: number): ReplayApply {
  return async (events, dryRun, summary) => {
    const synced: SyncedEvent[] = [];
    for (const event of events) {
      const name = eventName(event.type);
      if (!name || !SYNCED.has(name)) {
        summary.ignored++;
        continue;
      }
      if (!EventSchemas[name].safeParse(event).success) {
        summary.invalid++;
        continue;
      }
      synced.push(event as unknown as SyncedEvent);
    }
    if (dryRun) {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM sync_inbox WHERE event_id = ANY($1::text[])',
        [synced.map((e) => e.id)],
      );
      const present = rows[0]?.n ?? 0;
      summary.skipped_as_duplicate += present;
      summary.applied += synced.length - present;
      return;
    }
    // The chunk in one statement: each user's events take their sequences in log order. An id
    // twice in the chunk is stored once; the second counts as a duplicate.
    const once = [...new Map(synced.map((e) => [e.id, e])).values()];
    summary.skipped_as_duplicate += synced.length - once.length;
    if (once.length === 0) return;
    const stored = await storeEvents(pool, once, historySize);
    for (const event of once) {
      if (stored.get(event.id)?.created) summary.applied++;
      else summary.skipped_as_duplicate++;
    }
  };
}
