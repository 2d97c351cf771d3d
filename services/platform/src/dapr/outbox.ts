import pg from 'pg';
import type { Migration, Pool } from '../db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { OutgoingMessage, Transaction } from '../ports.js';
import { createSleeper } from '../sleeper.js';

const CHANNEL = 'taskstream_outbox';
const BATCH = 1000;
/** Safety net for a notification lost while the relay's connection reconnects. */
const POLL_MS = 500;
/** Committed rows wait behind an older open transaction (which may never notify): look again this soon. */
const HORIZON_POLL_MS = 5;
/**
 * Under load, one batch at most this often: each batch costs PostgreSQL two statements and a
 * commit and the sidecar one bulk request per round whatever its size, so the rows of many
 * commits go out together. An idle relay publishes a commit's rows at once.
 */
const MIN_BATCH_INTERVAL_MS = 2;
/** A relay whose lock another replica holds, or whose connection is lost, tries again this often. */
const ACQUIRE_RETRY_MS = 2000;

/**
 * The outbox of the `dapr` runtime, in the services' database. Its rows were task-api's own
 * outbox before publishing became a port call: the table is kept (old task-api replicas of a
 * rolling upgrade still write to it, and the new relay publishes their rows), and `app` tells
 * whose sidecar publishes a row (pub/sub components are scoped to app ids). Rows written by a
 * task-api from before this change name no app: the default says whose they are.
 */
export const outboxMigrations: Migration[] = [
  {
    id: '001_outbox',
    sql: `
      -- Rows are written in the caller's transaction; tx orders them for the relay, which only
      -- reads rows of transactions older than every running one (no commit-order gaps).
      CREATE TABLE IF NOT EXISTS outbox (
        id bigserial PRIMARY KEY,
        tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
        topic text NOT NULL,
        partition_key text NOT NULL,
        event jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      );
      ALTER TABLE outbox ADD COLUMN IF NOT EXISTS app text NOT NULL DEFAULT 'task-api';
      DROP INDEX IF EXISTS outbox_unpublished;
      CREATE INDEX outbox_unpublished ON outbox (app, tx, id) WHERE published_at IS NULL;
    `,
  },
];

/**
 * Writes messages to the outbox in the caller's transaction `tx`, in order, for `app`'s relay;
 * the notification that wakes it goes out at commit. One statement; the events travel as one
 * JSON array beside arrays of the short fields.
 */
export async function writeOutbox(tx: Transaction, app: string, messages: OutgoingMessage[]) {
  if (messages.length === 0) return;
  await tx.query({
    name: 'outbox_write',
    text: `WITH written AS (
       INSERT INTO outbox (app, topic, partition_key, event)
       SELECT $1, topic, partition_key, event
       FROM ROWS FROM (unnest($2::text[]), unnest($3::text[]), jsonb_array_elements($4::jsonb))
         WITH ORDINALITY AS x(topic, partition_key, event, n)
       ORDER BY n
       RETURNING 1
     )
     SELECT pg_notify($5, $1) FROM (SELECT 1 FROM written LIMIT 1) AS any_row`,
    values: [
      app,
      messages.map((m) => m.topic),
      messages.map((m) => m.partitionKey),
      JSON.stringify(messages.map((m) => m.event)),
      CHANNEL,
    ],
  });
}

/**
 * The relay's next rows of app $1 after position ($2 tx, $3 id), in publishing order, each with
 * whether its transaction is below the visibility horizon (older than every running one). Only
 * those are published; the others say to look again soon.
 */
export const RELAY_READ_SQL = `SELECT o.id::text AS id, o.tx::text AS tx, o.topic, o.partition_key, o.event,
    o.tx < pg_snapshot_xmin(pg_current_snapshot()) AS visible
  FROM outbox o
  WHERE o.app = $1 AND o.published_at IS NULL AND (o.tx, o.id) > ($2::xid8, $3::bigint)
  ORDER BY o.tx, o.id LIMIT ${BATCH + 1}`;

interface RelayRow {
  id: string;
  tx: string;
  topic: string;
  partition_key: string;
  event: OutgoingMessage['event'];
  visible: boolean;
}

export interface OutboxRelayOptions {
  pool: Pool;
  connectionString: string;
  /** Whose rows this relay publishes (the sidecar's app id). */
  app: string;
  /**
   * Publishes a batch in order per partition key; resolves when the bus holds it durably. A
   * batch holds up to BATCH rows of many keys, so a bus can send it in bulk requests.
   */
  publish(messages: OutgoingMessage[]): Promise<void>;
  logger: Logger;
  metrics?: Metrics;
}

export interface OutboxRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Publishes an app's outbox rows in transaction order, then marks them. Only rows of
 * transactions older than every running one are read, so a transaction that commits late never
 * slips in behind rows already published. One relay per app runs at a time (a session advisory
 * lock on its own connection, which also LISTENs for commits); other replicas wait. At least
 * once: a crash between publish and mark publishes the batch again, and consumers dedupe by
 * event id.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { app, logger } = options;
  const log = logger.child({ component: 'outbox-relay', app });
  const published = options.metrics?.counter('outbox_published_total', 'Outbox rows published', ['topic']);
  let running = false;
  let client: pg.Client | undefined;
  const sleeper = createSleeper();
  let notified = false;
  let loop: Promise<void> | undefined;
  /**
   * The last row this relay published while it holds the lock. The next read starts after it:
   * published rows leave dead entries at the front of the unpublished-rows index until vacuum
   * runs, and a read from the front stepped over all of them (ADR 0012 has the figures). No row can
   * become visible behind it: a transaction still running has a tx at or above the horizon that
   * every published row was below.
   */
  let after: { tx: string; id: string } | undefined;

  /** Publishes the next visible rows; says how many, and whether committed rows wait behind the horizon. */
  async function publishBatch(relay: pg.Client): Promise<{ count: number; hidden: boolean }> {
    const { rows: all } = await relay.query<RelayRow>({
      name: 'outbox_relay_read',
      text: RELAY_READ_SQL,
      values: [app, after?.tx ?? '0', after?.id ?? '0'],
    });
    // Rows are in tx order, so the visible ones come first.
    const rows = all.filter((r) => r.visible).slice(0, BATCH);
    const hidden = all.some((r) => !r.visible);
    if (rows.length === 0) return { count: 0, hidden };
    await options.publish(
      rows.map((r) => ({ topic: r.topic, partitionKey: r.partition_key, event: r.event })),
    );
    await relay.query({
      name: 'outbox_relay_mark',
      text: 'UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])',
      values: [rows.map((r) => r.id)],
    });
    const last = rows[rows.length - 1]!;
    after = { tx: last.tx, id: last.id };
    for (const r of rows) published?.inc({ topic: r.topic });
    return { count: rows.length, hidden };
  }

  /** Connects, takes the app's relay lock and listens for commits; leaves `client` unset when another replica relays. */
  async function acquire() {
    // Nothing this connection commits needs its own WAL flush: a lost mark publishes the rows
    // again, and consumers dedupe by event id.
    const candidate = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'taskstream-outbox-relay',
      options: '-c synchronous_commit=off',
    });
    const lost = (err?: Error) => {
      if (client !== candidate) return;
      log.warn({ err }, 'outbox relay connection lost');
      client = undefined;
      after = undefined; // another replica may relay meanwhile
      candidate.end().catch(() => undefined);
      sleeper.wake();
    };
    candidate.on('error', lost);
    candidate.on('end', () => lost());
    candidate.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload === app) wake();
    });
    await candidate.connect();
    const { rows } = await candidate.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
      [`taskstream_outbox_relay|${app}`],
    );
    if (!rows[0]?.ok) {
      await candidate.end();
      return;
    }
    await candidate.query(`LISTEN ${CHANNEL}`);
    client = candidate;
    after = undefined;
    log.debug('outbox relay active');
  }

  function wake() {
    notified = true;
    sleeper.wake();
  }

  async function run() {
    while (running) {
      let count = 0;
      let hidden = false;
      const startedAt = performance.now();
      try {
        if (!client) await acquire();
        if (client) ({ count, hidden } = await publishBatch(client));
      } catch (err) {
        if (!running) break;
        log.warn({ err }, 'outbox relay: publish failed; retrying');
        await sleeper.sleep(1000);
        continue;
      }
      if (count === BATCH || !running) continue;
      if (notified) {
        notified = false;
        const early = startedAt + MIN_BATCH_INTERVAL_MS - performance.now();
        if (count > 0 && early > 0) await new Promise((resolve) => setTimeout(resolve, early));
        continue;
      }
      // Rows behind an older open transaction become visible when it ends, which notifies
      // nobody when it wrote no rows of its own: look again soon.
      await sleeper.sleep(!client ? ACQUIRE_RETRY_MS : count > 0 || hidden ? HORIZON_POLL_MS : POLL_MS);
    }
  }

  return {
    async start() {
      if (running) return;
      running = true;
      notified = true; // rows committed while no relay ran
      loop = run();
    },
    async stop() {
      if (!running) return;
      running = false;
      sleeper.wake();
      await loop;
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
