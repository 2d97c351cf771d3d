/** The payments dashboard's arithmetic over polled transactions: rates by status and the score histogram. */
import type { Transaction } from '../types.js';

/**
 * Transactions per second by status over the last `windowMs` before `now`, counted by the time
 * each reached its status (`updated_at`): a transfer completed a second ago counts as completed.
 */
export function ratesByStatus(items: Transaction[], now: number, windowMs: number): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const t of items) {
    const at = Date.parse(t.updated_at);
    if (at > now - windowMs && at <= now) rates[t.status] = (rates[t.status] ?? 0) + 1000 / windowMs;
  }
  return rates;
}

/** How many scored transactions fall in each tenth of 0..1 (a score of 1 in the top bucket). */
export function scoreHistogram(items: Transaction[], buckets = 10): number[] {
  const counts = new Array<number>(buckets).fill(0);
  for (const t of items) {
    if (t.fraud_score === null) continue;
    counts[Math.min(buckets - 1, Math.floor(t.fraud_score * buckets))]! += 1;
  }
  return counts;
}

/** A transaction's newer state in a newest-first list (by id, UUIDv7: time order), at most `limit` long. */
export function upsertTransaction(list: Transaction[], t: Transaction, limit: number): Transaction[] {
  const index = list.findIndex((o) => o.id === t.id);
  if (index >= 0) {
    if (list[index]!.updated_at > t.updated_at) return list; // an older state arriving late
    const next = [...list];
    next[index] = t;
    return next;
  }
  const next = [...list, t].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return next.slice(0, limit);
}
