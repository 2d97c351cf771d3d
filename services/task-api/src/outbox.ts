import type { EventBus, Logger, Metrics, OutgoingMessage, Pool } from '@taskstream/platform';
import pg from 'pg';

const BATCH = 1000;
/** Picks up rows committed by other task-api replicas (this process wakes the relay after its own commits). */
const POLL_MS = 50;
/** Committed rows wait behind an older open transaction: look again this soon. */
const HORIZON_POLL_MS = 5;
/**
 * Under load, one batch at most this often: each batch costs PostgreSQL two statements and a
 * commit whatever its size, so the rows of many commits go out together. An idle relay
 * publishes a commit's rows at once.
 */
const MIN_BATCH_INTERVAL_MS = 2;

/**
 * The user's advisory lock, for the user id `userId` (an SQL expression of type uuid). Every
 * statement that writes a user's events takes it before its first write gives the transaction
 * its id, so one user's transactions take their ids in sequence order (the relay publishes in
 * transaction id order). One expression, so every writer locks the same key.
 */
export const userLock = (userId: string) => `pg_advisory_xact_lock(hashtextextended((${userId})::text, 0))`;

/**
 * Common table expressions, in one statement with the change, that take each changed task's
 * user's next sequence, stamp it on that task's events and write them to the outbox. `gate` is a
 * CTE with a row (id, user_id) per task that did change (no row, no sequence, no event; one task
 * per user in a statement); `messages` is the parameter holding `outboxMessages`.
 */
export function outboxWrites(p: { messages: string; gate: string }) {
  return `next_sequence AS (
       INSERT INTO user_sequences (user_id, last_sequence) SELECT user_id, 1 FROM ${p.gate}
       ON CONFLICT (user_id) DO UPDATE SET last_sequence = user_sequences.last_sequence + 1
       RETURNING user_id, last_sequence
     ), outbox_rows AS (
       INSERT INTO outbox (topic, partition_key, event)
       SELECT m.topic, m.partition_key, jsonb_set(m.event, '{data,sequence}', to_jsonb(s.last_sequence))
       FROM ROWS FROM (jsonb_to_recordset(${p.messages}::jsonb) AS (task_id uuid, topic text, partition_key text, event jsonb))
         WITH ORDINALITY AS m(task_id, topic, partition_key, event, n)
       JOIN ${p.gate} g ON g.id = m.task_id
       JOIN next_sequence s ON s.user_id = g.user_id
       ORDER BY m.n
     )`;
}

/** The `messages` parameter of `outboxWrites`: every task's events, in order. */
export const outboxMessages = (changes: { taskId: string; messages: OutgoingMessage[] }[]) =>
  JSON.stringify(
    changes.flatMap(({ taskId, messages }) =>
      messages.map((m) => ({
        task_id: taskId,
        topic: m.topic,
        partition_key: m.partitionKey,
        event: m.event,
      })),
    ),
  );

/**
 * The relay's next rows after position ($1 tx, $2 id), in publishing order: `columns` of each,
 * its tx, and whether its transaction is below the visibility horizon (older than every running
 * one). Only those are published; the others say to look again soon.
 */
export const relayReadSql = (columns: string) => `SELECT ${columns}, o.tx::text AS tx,
    o.tx < pg_snapshot_xmin(pg_current_snapshot()) AS visible
  FROM outbox o
  WHERE o.published_at IS NULL AND (o.tx, o.id) > ($1::xid8, $2::bigint)
  ORDER BY o.tx, o.id LIMIT ${BATCH + 1}`;

/**
 * Marks rows ($1 ids) published, returning what a bus needs to publish them (`publishReturning`).
 * Not yet published is written `coalesce(published_at, 'infinity') = 'infinity'`, not `IS NULL`:
 * with `IS NULL` the planner may take the partial unpublished-rows index (its predicate matches)
 * and filter every entry by id, dead ones of published rows included until vacuum (1.6–2.1 ms a
 * batch after 18,000 rows, growing); written so, only the primary key fits (0.2 ms). A join with
 * the ids instead got a cached generic plan that scanned the whole table.
 */
const MARK_RETURNING_SQL = `UPDATE outbox SET published_at = now()
  WHERE id = ANY($1::bigint[]) AND coalesce(published_at, 'infinity') = 'infinity'
  RETURNING topic, partition_key, event->>'id' AS event_id, event, (tx, id) AS position`;

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
  /**
   * The last row this relay published while it holds the lock. The next read starts after it:
   * published rows leave dead entries at the front of the unpublished-rows index until vacuum
   * runs, and a read from the front stepped over all of them (20 ms at 36,000). No row can
   * become visible behind it: a transaction still running has a tx at or above the horizon that
   * every published row was below.
   */
  let after: { tx: string; id: string } | undefined;

  /**
   * Publishes the next visible rows; says how many, and whether committed rows wait behind the
   * horizon. Two round trips on the relay's own connection (on two shared cores each costs a
   * context switch to a PostgreSQL backend and back, more than the SQL it carries). With the
   * embedded bus the events stay in the database: one statement marks the rows and writes them
   * to the log, so both commit together. Otherwise the events are read, published, then marked;
   * a crash before the mark publishes them again, and consumers dedupe by event id.
   */
  async function publishBatch(relay: pg.Client): Promise<{ count: number; hidden: boolean }> {
    const inDatabase = bus.publishReturning !== undefined;
    const { rows: all } = await relay.query<RelayRow>({
      name: inDatabase ? 'outbox_relay_read_keys' : 'outbox_relay_read',
      text: relayReadSql(inDatabase ? 'o.id, o.topic' : 'o.id, o.topic, o.partition_key, o.event'),
      values: [after?.tx ?? '0', after?.id ?? '0'],
    });
    // Rows are in tx order, so the visible ones come first.
    const rows = all.filter((r) => r.visible).slice(0, BATCH);
    const hidden = all.some((r) => !r.visible);
    if (rows.length === 0) return { count: 0, hidden };
    const ids = rows.map((r) => r.id);
    if (bus.publishReturning) {
      await bus.publishReturning(
        { name: 'outbox', text: MARK_RETURNING_SQL, values: [ids] },
        { within: relay },
      );
    } else {
      await bus.publish(
        rows.map((r) => ({ topic: r.topic, partitionKey: r.partition_key!, event: r.event! })),
      );
      await relay.query({
        name: 'outbox_relay_mark',
        text: 'UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])',
        values: [ids],
      });
    }
    const last = rows[rows.length - 1]!;
    after = { tx: last.tx, id: last.id };
    for (const r of rows) published.inc({ topic: r.topic });
    return { count: rows.length, hidden };
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
        logger.warn({ err }, 'outbox relay: publish failed; retrying');
        await sleep(1000);
      }
      if (count === BATCH || !running) continue;
      if (notified) {
        notified = false;
        const early = startedAt + MIN_BATCH_INTERVAL_MS - performance.now();
        if (count > 0 && early > 0) await new Promise((resolve) => setTimeout(resolve, early));
        continue;
      }
      // Rows behind an older open transaction become visible when it ends, and it may not be
      // this process's to wake the relay: look again soon.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, client ? (count > 0 || hidden ? HORIZON_POLL_MS : POLL_MS) : 2000);
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
    // Nothing this connection commits needs its own WAL flush: the rows stay in the durable
    // outbox, and a crash that loses a batch's commit loses the embedded log's copy and the mark
    // together (under Dapr, the mark alone: the rows go out again, and consumers dedupe by event id).
    const candidate = new pg.Client({
      connectionString: options.connectionString,
      options: '-c synchronous_commit=off',
    });
    candidate.on('error', (err) => {
      logger.warn({ err }, 'outbox relay connection lost');
      if (client === candidate) client = undefined;
      after = undefined; // another replica may relay meanwhile
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
    after = undefined;
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

interface RelayRow {
  id: string;
  tx: string;
  topic: string;
  /** Read only when the bus publishes from this process. */
  partition_key?: string;
  event?: OutgoingMessage['event'];
  visible: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
