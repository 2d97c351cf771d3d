import type { Pool } from '@taskstream/platform';
import { readHistory } from './history.js';
import { replayPlan, type SyncedEvent } from './protocol.js';

/** One step of a replay: the next missed event, or the news that the history no longer reaches back. */
export type Missed =
  | { type: 'event'; sequence: number; event: SyncedEvent }
  | { type: 'resync'; sequence: number };

/**
 * What a connection at `from` missed, read from the history page by page, in sequence order
 * with no gap: it ends when it reaches the user's current sequence, or after one `resync` when
 * `from` is older than the kept window (or ahead of it: the history was reset). The caller stops
 * early by leaving the loop (a closed connection).
 */
export async function* readMissed(
  pool: Pool,
  userId: string,
  from: number,
  pageSize: number,
): AsyncGenerator<Missed, void, undefined> {
  let position = from;
  for (;;) {
    const page = await readHistory(pool, userId, position, pageSize);
    const plan = replayPlan(position, page.latest, page.events[0]?.sequence);
    if (plan === 'none') return;
    if (plan === 'resync') {
      yield { type: 'resync', sequence: page.latest };
      return;
    }
    for (const { sequence, event } of page.events) {
      if (sequence !== position + 1) break; // trimmed meanwhile: the next read decides
      position = sequence;
      yield { type: 'event', sequence, event };
    }
    if (page.events.length < pageSize && position >= page.latest) return;
  }
}
