import { replayPlan } from './protocol.js';

/** One consistent read of a subscriber's stream: its position and the kept events after `since`. */
export interface HistoryPage<E> {
  /** The subscriber's current sequence (0 when nothing was ever stored). */
  latest: number;
  /** Events after `since`, in order (at most `limit`). */
  events: { sequence: number; event: E }[];
}

/** Where a stream keeps its bounded window of recent events, per subscriber key. */
export type ReadHistory<E> = (key: string, since: number, limit: number) => Promise<HistoryPage<E>>;

/** One step of a replay: the next missed event, or the news that the history no longer reaches back. */
export type Missed<E> = { type: 'event'; sequence: number; event: E } | { type: 'resync'; sequence: number };

/**
 * What a connection at `from` missed, read from the history page by page, in sequence order
 * with no gap: it ends when it reaches the subscriber's current sequence, or after one `resync`
 * when `from` is older than the kept window (or ahead of it: the history was reset). The caller
 * stops early by leaving the loop (a closed connection).
 */
export async function* readMissed<E>(
  read: ReadHistory<E>,
  key: string,
  from: number,
  pageSize: number,
): AsyncGenerator<Missed<E>, void, undefined> {
  let position = from;
  for (;;) {
    const page = await read(key, position, pageSize);
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
