import type { Pool } from '../db.js';
import type { EventBus } from '../ports.js';

/** The window of `events_per_second`. */
export const STATS_WINDOW_SECONDS = 60;

export interface ConsumerLag {
  consumer: string;
  topic: string;
  lag: number;
}

/** The embedded bus measures lag exactly (event_log rows past the checkpoint, plus held-back retries). */
export function lagOf(bus: EventBus): (() => Promise<ConsumerLag[]>) | undefined {
  const candidate = (bus as { lag?: () => Promise<ConsumerLag[]> }).lag;
  return typeof candidate === 'function' ? () => candidate.call(bus) : undefined;
}

async function tableExists(pool: Pool, name: string): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  return rows[0]?.ok ?? false;
}

/**
 * Throughput per topic over the last minute and in all (from the embedded event log, or from
 * the published outbox rows under Dapr), lag per consumer, pending dead letters, outbox backlog.
 */
export async function adminStats(pool: Pool, bus: EventBus, windowSeconds = STATS_WINDOW_SECONDS) {
  const source = (await tableExists(pool, 'event_log'))
    ? 'event_log'
    : (await tableExists(pool, 'outbox'))
      ? 'outbox'
      : undefined;
  const topics: Record<string, { events_per_second: number; total: number }> = {};
  if (source) {
    const published = source === 'outbox' ? 'WHERE published_at IS NOT NULL' : '';
    const { rows } = await pool.query<{ topic: string; recent: number; total: number }>(
      `SELECT topic, count(*) FILTER (WHERE created_at > now() - make_interval(secs => $1))::bigint AS recent, count(*)::bigint AS total
       FROM ${source} ${published} GROUP BY topic ORDER BY topic`,
      [windowSeconds],
    );
    for (const r of rows)
      topics[r.topic] = { events_per_second: Number(r.recent) / windowSeconds, total: Number(r.total) };
  }
  const consumers: Record<string, { lag: number }> = {};
  const lag = lagOf(bus);
  for (const l of lag ? await lag() : []) {
    consumers[l.consumer] = { lag: (consumers[l.consumer]?.lag ?? 0) + l.lag };
  }
  const { rows: dlq } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM dead_letters WHERE status = 'pending'`,
  );
  const backlog = (await tableExists(pool, 'outbox'))
    ? ((await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL'))
        .rows[0]?.n ?? 0)
    : 0;
  return { topics, consumers, dlq_size: dlq[0]?.n ?? 0, outbox_backlog: backlog };
}
