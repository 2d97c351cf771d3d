import type { EventBus, Logger, Metrics, OutgoingMessage, Pool, PoolClient } from '@taskstream/platform';
import pg from 'pg';

const BATCH = 1000;
/** Picks up rows committed by other task-api replicas, and rows held back behind an older open transaction. */
const POLL_MS = 50;

/**
 * Common table expressions that take the user's next sequence, stamp it on every event of the
 * mutation and write them, in one statement with the change: `$user`, `$topics`, `$keys` and
 * `$events` are the statement's parameters; rows of the CTE `gate`, when given, decide whether
 * the change happened (no row, no sequence, no event).
 */
export function outboxWrites(p: {
  user: string;
  topics: string;
  keys: string;
  events: string;
  gate?: string;
}) {
  return `next_sequence AS (
       INSERT INTO user_sequences (user_id, last_sequence) SELECT ${p.user}, 1${p.gate ? ` FROM ${p.gate}` : ''}
       ON CONFLICT (user_id) DO UPDATE SET last_sequence = user_sequences.last_sequence + 1
       RETURNING last_sequence
     ), outbox_rows AS (
       INSERT INTO outbox (topic, partition_key, event)
       SELECT m.topic, m.partition_key, jsonb_set(m.event, '{data,sequence}', to_jsonb(next_sequence.last_sequence))
       FROM unnest(${p.topics}::text[], ${p.keys}::text[], ${p.events}::jsonb[]) WITH ORDINALITY AS m(topic, partition_key, event, n),
         next_sequence
       ORDER BY m.n
     )`;
}

/** The parameters `outboxWrites` reads: topics, partition keys and events. */
export const outboxValues = (messages: OutgoingMessage[]) => [
  messages.map((m) => m.topic),
  messages.map((m) => m.partitionKey),
  messages.map((m) => JSON.stringify(m.event)),
];

export interface OutboxRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A mutation committed in this process: publish now rather than at the next poll. */
  wake(): void;
  backlog(): Promise<number>;
}

/**
 * Publishes outbox rows in transaction order. Only rows of transactions older than every
 * running transaction are read, so a transaction that commits late can never slip in behind
 * rows already published. One relay runs at a time (a session advisory lock); other replicas wait.
 */
export function createOutboxRelay(options: {
  pool: Pool;
  connectionString: string;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
}): OutboxRelay {
  const { pool, bus, logger } = options;
  const published = options.metrics.counter('outbox_published_total', 'Outbox rows published', ['topic']);
  let running = false;
  let client: pg.Client | undefined;
  let wake: (() => void) | undefined;
  let notified = false;
  let loop: Promise<void> | undefined;

  async function publishBatch(): Promise<number> {
    const { rows } = await pool.query<{
      id: string;
      topic: string;
      partition_key: string;
      event: OutgoingMessage['event'];
    }>(
      `SELECT id, topic, partition_key, event FROM outbox
       WHERE published_at IS NULL AND tx < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY tx, id LIMIT ${BATCH}`,
    );
    if (rows.length === 0) return 0;
    await bus.publish(rows.map((r) => ({ topic: r.topic, partitionKey: r.partition_key, event: r.event })));
    await pool.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
      rows.map((r) => r.id),
    ]);
    for (const r of rows) published.inc({ topic: r.topic });
    return rows.length;
  }

  async function run() {
    while (running) {
      let count = 0;
      try {
        if (!client) await acquire();
        if (client) count = await publishBatch();
      } catch (err) {
        logger.warn({ err }, 'outbox relay: publish failed; retrying');
        await sleep(1000);
      }
      if (count === BATCH || !running) continue;
      if (notified) {
        notified = false;
        continue;
      }
      // Rows of a transaction still open become visible once older transactions end: poll soon.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, client ? (count > 0 ? 5 : POLL_MS) : 2000);
        wake = () => {
          notified = false;
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  async function acquire() {
    const candidate = new pg.Client({ connectionString: options.connectionString });
    candidate.on('error', (err) => {
      logger.warn({ err }, 'outbox relay connection lost');
      if (client === candidate) client = undefined;
    });
    await candidate.connect();
    const { rows } = await candidate.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext('taskstream_outbox_relay')) AS ok`,
    );
    if (!rows[0]?.ok) {
      await candidate.end();
      return;
    }
    client = candidate;
    logger.debug('outbox relay active');
  }

  return {
    async start() {
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      await client?.end().catch(() => undefined);
      client = undefined;
    },
    wake() {
      notified = true;
      wake?.();
    },
    async backlog() {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
      );
      return rows[0]?.n ?? 0;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
