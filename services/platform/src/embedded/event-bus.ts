import pg from 'pg';
import type { Pool, PoolClient } from '../db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Envelope, EventBus, OutgoingMessage, Subscription } from '../ports.js';

const CHANNEL = 'taskstream_events';
const BATCH = 500;
/** How many partition keys one consumer handles at once; one key is always handled in order. */
const KEY_CONCURRENCY = 16;
/** Safety net for a lost notification or a row hidden behind an older open transaction. */
const FALLBACK_POLL_MS = 500;

export interface EmbeddedBusOptions {
  pool: Pool;
  connectionString: string;
  logger: Logger;
  metrics?: Metrics;
  /** Wait before attempt 2, 3, ...; after the last one the event goes to the dead-letter topic. */
  retryDelaysMs: number[];
}

interface LogRow {
  id: number;
  tx: string;
  partition_key: string;
  event: Envelope;
}

/**
 * EventBus on PostgreSQL: a durable event log, a checkpoint per consumer and topic, LISTEN/NOTIFY
 * wake-ups. At-least-once, in order per partition key; a failing event holds back only its own
 * key while it is retried, then goes to `<topic>.dlq` and to `dead_letters` with the error.
 */
export function createEmbeddedEventBus(options: EmbeddedBusOptions): EventBus & {
  lag(): Promise<{ consumer: string; topic: string; lag: number }[]>;
} {
  const { pool, logger } = options;
  const subscriptions: Subscription[] = [];
  const consumers: ReturnType<typeof createConsumer>[] = [];
  let listener: pg.Client | undefined;
  let running = false;

  const published = options.metrics?.counter('events_published_total', 'Events published', ['topic']);

  async function publish(messages: OutgoingMessage[], client: Pick<PoolClient, 'query'> = pool) {
    if (messages.length === 0) return;
    await client.query(
      `WITH inserted AS (
         INSERT INTO event_log (topic, partition_key, event_id, event)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) RETURNING topic
       )
       SELECT pg_notify($5, topic) FROM (SELECT DISTINCT topic FROM inserted) t`,
      [
        messages.map((m) => m.topic),
        messages.map((m) => m.partitionKey),
        messages.map((m) => m.event.id),
        messages.map((m) => JSON.stringify(m.event)),
        CHANNEL,
      ],
    );
    for (const m of messages) published?.inc({ topic: m.topic });
  }

  return {
    publish: (messages) => publish(messages),

    subscribe(subscription) {
      if (running) throw new Error('subscribe before start()');
      subscriptions.push(subscription);
    },

    async start() {
      running = true;
      if (subscriptions.length === 0) return;
      listener = new pg.Client({ connectionString: options.connectionString });
      listener.on('error', (err) => logger.warn({ err }, 'event bus listener connection lost'));
      await listener.connect();
      await listener.query(`LISTEN ${CHANNEL}`);
      listener.on('notification', (n) => {
        for (const c of consumers) if (c.topic === n.payload) c.wake();
      });
      for (const sub of subscriptions) consumers.push(createConsumer(sub, { ...options, publish }));
      await Promise.all(consumers.map((c) => c.start()));
    },

    async stop() {
      running = false;
      await Promise.all(consumers.map((c) => c.stop()));
      consumers.length = 0;
      await listener?.end().catch(() => undefined);
      listener = undefined;
    },

    async lag() {
      const { rows } = await pool.query(
        `SELECT c.consumer, c.topic,
           (SELECT count(*) FROM event_log e WHERE e.topic = c.topic AND (e.tx, e.id) > (c.tx, c.last_id))
           + (SELECT count(*) FROM consumer_retries r WHERE r.consumer = c.consumer AND r.topic = c.topic) AS lag
         FROM consumer_checkpoints c ORDER BY 1, 2`,
      );
      return rows.map((r) => ({ consumer: r.consumer, topic: r.topic, lag: Number(r.lag) }));
    },
  };
}

function createConsumer(
  sub: Subscription,
  options: EmbeddedBusOptions & { publish: (m: OutgoingMessage[], c: Pick<PoolClient, 'query'>) => Promise<void> },
) {
  const { pool, logger, retryDelaysMs } = options;
  const { topic, consumer } = sub;
  const deadLetterTopic = sub.deadLetterTopic ?? `${topic}.dlq`;
  const log = logger.child({ consumer, topic });
  const lockKey = `${consumer}|${topic}`;
  const metrics = options.metrics;
  const consumed = metrics?.counter('events_consumed_total', 'Events handled', ['topic', 'consumer', 'result']);
  const duration = metrics?.histogram('event_handler_duration_seconds', 'Handler duration', ['topic', 'consumer']);

  let lockClient: PoolClient | undefined;
  let stopped = false;
  let wakeRequested = true;
  let wakeUp: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  const blockedKeys = new Set<string>();

  async function attempt(event: Envelope, attemptNo: number): Promise<string | undefined> {
    const end = duration?.startTimer({ topic, consumer });
    try {
      const result = (await sub.handler(event, { topic, consumer, attempt: attemptNo })) ?? 'SUCCESS';
      consumed?.inc({ topic, consumer, result: result.toLowerCase() });
      return result === 'RETRY' ? 'handler asked to retry' : undefined;
    } catch (err) {
      consumed?.inc({ topic, consumer, result: 'error' });
      return err instanceof Error ? err.message || err.name : String(err);
    } finally {
      end?.();
    }
  }

  async function handleNew(): Promise<number> {
    const { rows } = await pool.query<LogRow>(
      `SELECT e.id, e.tx::text AS tx, e.partition_key, e.event
       FROM event_log e, consumer_checkpoints c
       WHERE c.consumer = $1 AND c.topic = $2 AND e.topic = $2
         AND (e.tx, e.id) > (c.tx, c.last_id)
         AND e.tx < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY e.tx, e.id LIMIT ${BATCH}`,
      [consumer, topic],
    );
    if (rows.length === 0) return 0;

    const byKey = new Map<string, LogRow[]>();
    for (const row of rows) {
      const list = byKey.get(row.partition_key);
      if (list) list.push(row);
      else byKey.set(row.partition_key, [row]);
    }
    const parked: { row: LogRow; error?: string }[] = [];
    const groups = [...byKey.entries()];
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const [key, list] = groups[next++]!;
        let i = 0;
        if (!blockedKeys.has(key)) {
          for (; i < list.length; i++) {
            const error = await attempt(list[i]!.event, 1);
            if (error !== undefined) {
              parked.push({ row: list[i]!, error });
              i++;
              break;
            }
          }
        }
        for (; i < list.length; i++) parked.push({ row: list[i]! });
        if (parked.some((p) => p.row.partition_key === key)) blockedKeys.add(key);
      }
    };
    await Promise.all(Array.from({ length: Math.min(KEY_CONCURRENCY, groups.length) }, worker));

    const last = rows[rows.length - 1]!;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      if (parked.length > 0) {
        await client.query(
          `INSERT INTO consumer_retries (consumer, topic, event_log_id, partition_key, attempts, next_attempt_at, last_error, first_failed_at)
           SELECT $1, $2, p.id, p.key, CASE WHEN p.error IS NULL THEN 0 ELSE 1 END,
             CASE WHEN p.error IS NULL THEN NULL ELSE now() + make_interval(secs => $6::float / 1000) END,
             p.error, CASE WHEN p.error IS NULL THEN NULL ELSE now() END
           FROM unnest($3::bigint[], $4::text[], $5::text[]) AS p(id, key, error)
           ON CONFLICT DO NOTHING`,
          [
            consumer,
            topic,
            parked.map((p) => p.row.id),
            parked.map((p) => p.row.partition_key),
            parked.map((p) => p.error ?? null),
            retryDelaysMs[0] ?? 0,
          ],
        );
        for (const p of parked) if (p.error) log.warn({ event_id: p.row.event.id, error: p.error }, 'handler failed; will retry');
      }
      await client.query('UPDATE consumer_checkpoints SET tx = $3::xid8, last_id = $4, updated_at = now() WHERE consumer = $1 AND topic = $2', [
        consumer,
        topic,
        last.tx,
        last.id,
      ]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    return rows.length;
  }

  /** Works through held-back keys; returns ms until the next retry is due (or undefined). */
  async function handleRetries(): Promise<number | undefined> {
    if (blockedKeys.size === 0) return undefined;
    let soonest: number | undefined;
    for (const key of [...blockedKeys]) {
      if (stopped) break;
      for (;;) {
        const { rows } = await pool.query(
          `SELECT r.event_log_id, r.attempts, r.last_error, r.first_failed_at,
             extract(epoch FROM (coalesce(r.next_attempt_at, now()) - now())) * 1000 AS wait_ms, e.event
           FROM consumer_retries r JOIN event_log e ON e.id = r.event_log_id
           WHERE r.consumer = $1 AND r.topic = $2 AND r.partition_key = $3
           ORDER BY e.tx, e.id LIMIT 1`,
          [consumer, topic, key],
        );
        const head = rows[0];
        if (!head) {
          blockedKeys.delete(key);
          break;
        }
        if (head.wait_ms > 0) {
          soonest = Math.min(soonest ?? Number.POSITIVE_INFINITY, head.wait_ms);
          break;
        }
        const attemptNo = head.attempts + 1;
        const error = await attempt(head.event, attemptNo);
        if (error === undefined) {
          await pool.query('DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3', [
            consumer,
            topic,
            head.event_log_id,
          ]);
          continue;
        }
        if (attemptNo > retryDelaysMs.length) {
          await deadLetter(head.event_log_id, head.event, key, error, attemptNo, head.first_failed_at);
          continue;
        }
        const delay = retryDelaysMs[attemptNo - 1]!;
        await pool.query(
          `UPDATE consumer_retries SET attempts = $4, last_error = $5, first_failed_at = coalesce(first_failed_at, now()),
             next_attempt_at = now() + make_interval(secs => $6::float / 1000)
           WHERE consumer = $1 AND topic = $2 AND event_log_id = $3`,
          [consumer, topic, head.event_log_id, attemptNo, error, delay],
        );
        log.warn({ event_id: head.event.id, attempt: attemptNo, error, retry_in_ms: delay }, 'handler failed; will retry');
        soonest = Math.min(soonest ?? Number.POSITIVE_INFINITY, delay);
        break;
      }
    }
    return soonest;
  }

  async function deadLetter(logId: number, event: Envelope, key: string, reason: string, attempts: number, firstFailedAt: Date | null) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO dead_letters (topic, consumer, partition_key, event_id, event, reason, attempts, first_failed_at, last_failed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), now())`,
        [topic, consumer, key, event.id, JSON.stringify(event), reason, attempts, firstFailedAt],
      );
      // The same event on `<topic>.dlq`, with why it is there as CloudEvents extension attributes.
      const dead: Envelope = { ...event, deadletterreason: reason, deadletterconsumer: consumer, deadletterattempts: attempts };
      await options.publish([{ topic: deadLetterTopic, partitionKey: key, event: dead }], client);
      await client.query('DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3', [consumer, topic, logId]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    consumed?.inc({ topic, consumer, result: 'dead_lettered' });
    log.error({ event_id: event.id, attempts, reason }, 'event dead-lettered');
  }

  async function run() {
    while (!stopped) {
      let waitMs = FALLBACK_POLL_MS;
      try {
        wakeRequested = false;
        const handled = await handleNew();
        const retryIn = await handleRetries();
        if (retryIn !== undefined) waitMs = Math.min(waitMs, Math.max(10, retryIn));
        if (handled === BATCH) continue;
      } catch (err) {
        if (stopped) break;
        log.error({ err }, 'consumer loop error; backing off');
        waitMs = 1000;
      }
      if (stopped || wakeRequested) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  }

  /** One instance per consumer and topic across processes: a session advisory lock, waited for. */
  async function acquireLock() {
    while (!stopped) {
      lockClient = await pool.connect();
      const { rows } = await lockClient.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey]);
      if (rows[0].ok) return true;
      lockClient.release();
      lockClient = undefined;
      await new Promise((r) => setTimeout(r, 2000));
    }
    return false;
  }

  return {
    topic,
    wake() {
      wakeRequested = true;
      wakeUp?.();
    },
    async start() {
      await pool.query('INSERT INTO consumer_checkpoints (consumer, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING', [consumer, topic]);
      const { rows } = await pool.query('SELECT DISTINCT partition_key FROM consumer_retries WHERE consumer = $1 AND topic = $2', [
        consumer,
        topic,
      ]);
      for (const r of rows) blockedKeys.add(r.partition_key);
      loop = (async () => {
        if (await acquireLock()) await run();
      })().catch((err) => log.error({ err }, 'consumer stopped on error'));
    },
    async stop() {
      stopped = true;
      wakeUp?.();
      await loop;
      if (lockClient) {
        await lockClient.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => undefined);
        lockClient.release();
      }
    },
  };
}
