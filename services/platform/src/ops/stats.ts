import type { Pool } from '../db.js';
import type { ConsumerLag, EventBus } from '../ports.js';

/** The window of `events_per_second`. */
export const STATS_WINDOW_SECONDS = 60;

/**
 * The bus's lag reader, when it has one (the port's optional `lag`): the embedded bus always,
 * the `dapr` bus when it is given Kafka's brokers.
 */
export function lagOf(bus: EventBus): (() => Promise<ConsumerLag[]>) | undefined {
  const read = bus.lag;
  return read ? () => read.call(bus) : undefined;
}

/** Whether `consumers` of the stats is measured; why not when it is not. */
export type LagStatus = { available: true } | { available: false; reason: string };

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
  let consumerLag: LagStatus;
  const lag = lagOf(bus);
  if (!lag) {
    // Said outright: an empty `consumers` alone would read as "nothing behind".
    consumerLag = {
      available: false,
      reason: 'not measured: the dapr bus reads lag from Kafka and KAFKA_BROKERS is not set',
    };
  } else {
    try {
      for (const l of await lag()) {
        consumers[l.consumer] = { lag: (consumers[l.consumer]?.lag ?? 0) + l.lag };
      }
      consumerLag = { available: true };
    } catch (err) {
      // The rest of the stats still answers when the broker does not.
      consumerLag = { available: false, reason: `reading the lag failed: ${(err as Error).message}` };
    }
  }
  const { rows: dlq } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM dead_letters WHERE status = 'pending'`,
  );
  const backlog = await outboxBacklog(pool);
  return { topics, consumers, consumer_lag: consumerLag, dlq_size: dlq[0]?.n ?? 0, outbox_backlog: backlog };
}

/** Outbox rows not yet relayed; 0 where there is no outbox (the embedded bus publishes in the transaction). */
export async function outboxBacklog(pool: Pool): Promise<number> {
  if (!(await tableExists(pool, 'outbox'))) return 0;
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
  );
  return rows[0]?.n ?? 0;
}
