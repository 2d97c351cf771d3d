import pg from 'pg';
import { type Pool, withTransaction } from '../db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { deliveryMetrics, runHandler } from '../ops/delivery.js';
import type {
  ConsumerLag,
  Envelope,
  EventBus,
  OutgoingMessage,
  Subscription,
  Transaction,
} from '../ports.js';
import { traceIdOf } from '../trace.js';

const CHANNEL = 'taskstream_events';
const BATCH = 500;
/** How many partition keys one consumer handles at once by default; one key is always handled in order. */
const KEY_CONCURRENCY = 64;
/** Safety net for a notification lost while the listener reconnects. */
const FALLBACK_POLL_MS = 500;
/** Committed rows waiting behind an older open transaction (which may never notify): look again soon. */
const HORIZON_POLL_MS = 10;
/** A consumer whose lock another process holds tries again this often. */
const LOCK_RETRY_MS = 2000;
const SHUTDOWN_TIMEOUT_MS = 30_000;

export interface EmbeddedBusOptions {
  pool: Pool;
  connectionString: string;
  logger: Logger;
  metrics?: Metrics;
  /** Wait before attempt 2, 3, ...; after the last one the event goes to the dead-letter topic. */
  retryDelaysMs: number[];
  /** Partition keys handled at once per consumer (BUS_KEY_CONCURRENCY). */
  keyConcurrency?: number;
  /** Poll interval when no notification comes (the normal path is LISTEN/NOTIFY). */
  fallbackPollMs?: number;
  /** Poll interval while committed events wait behind an older, still open transaction. */
  horizonPollMs?: number;
  /** How long stop() waits for in-flight handlers before it gives up on them (they are redelivered). */
  shutdownTimeoutMs?: number;
}

interface LogRow {
  id: number;
  tx: string;
  partition_key: string;
  event: Envelope;
  visible: boolean;
}

/**
 * The bus's own connection (not from the pool): LISTEN for wake-ups, and the session advisory
 * locks that make each consumer run in one process only. Reconnects when it is lost; the locks
 * are then taken again.
 */
function createControlConnection(
  options: EmbeddedBusOptions,
  onNotify: (topic: string) => void,
  onReconnect: () => void,
) {
  const log = options.logger.child({ component: 'event-bus-listener' });
  let client: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const held = new Set<string>();
  /** One query at a time on this connection (pg queues them, but concurrent calls are deprecated). */
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'taskstream-event-bus',
    });
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = undefined;
      held.clear();
      c.end().catch(() => undefined);
      if (closed) return;
      log.warn({ err }, 'event bus listener connection lost; reconnecting');
      scheduleReconnect();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) onNotify(n.payload);
    });
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
    failures = 0;
  }

  function scheduleReconnect() {
    const delay = Math.min(10_000, 250 * 2 ** failures++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect().then(
        () => onReconnect(), // notifications sent meanwhile were lost: everyone looks once
        (err) => {
          if (closed) return;
          log.warn({ err }, 'event bus listener cannot reconnect yet');
          scheduleReconnect();
        },
      );
    }, delay);
  }

  return {
    connect,
    holds: (key: string) => client !== undefined && held.has(key),
    async tryLock(key: string): Promise<boolean> {
      const c = client;
      if (!c) return false;
      if (held.has(key)) return true;
      try {
        const { rows } = await serial(() =>
          c.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]),
        );
        if (rows[0].ok && client === c) held.add(key);
        return held.has(key);
      } catch {
        return false;
      }
    },
    async unlock(key: string) {
      const c = client;
      if (!held.delete(key) || !c) return;
      await serial(() => c.query('SELECT pg_advisory_unlock(hashtext($1))', [key])).catch(() => undefined);
    },
    async close() {
      closed = true;
      clearTimeout(reconnectTimer);
      const c = client;
      client = undefined;
      held.clear();
      await c?.end().catch(() => undefined);
    },
  };
}

type Control = ReturnType<typeof createControlConnection>;

/**
 * EventBus on PostgreSQL: a durable event log, a checkpoint per consumer and topic, LISTEN/NOTIFY
 * wake-ups. At-least-once, in order per partition key; a failing event holds back only its own
 * key while it is retried, then goes to `<topic>.dlq` and to `dead_letters` with the error.
 *
 * Visibility: `event_log.id` is handed out before commit, so ids commit out of order. Each row
 * records its writing transaction (`xid8`); a consumer reads only rows of transactions older than
 * the oldest one still running, in (tx, id) order, so a row that commits late is never skipped.
 */
export function createEmbeddedEventBus(options: EmbeddedBusOptions): EventBus & {
  lag(): Promise<ConsumerLag[]>;
} {
  const { pool } = options;
  const subscriptions: Subscription[] = [];
  const consumers: Consumer[] = [];
  let control: Control | undefined;
  let running = false;

  const published = options.metrics?.counter('events_published_total', 'Events published', ['topic']);

  /**
   * Appends messages to the log on `client` (the pool, or a caller's transaction): one statement,
   * so the rows get ids in message order, and the notification goes out at commit. The events
   * travel as one JSON array (one serialization, one parse; a json[] costs an escaping pass here
   * and an array parse there), the short fields as arrays beside it, so the server never looks
   * inside an event. Counted when written: a transaction that rolls back has counted too.
   */
  async function publish(messages: OutgoingMessage[], client: Transaction = pool) {
    if (messages.length === 0) return;
    const { rows } = await client.query<{ topic: string; n: number }>({
      // Named: parsed and planned once per connection, not for every call.
      name: 'event_bus_publish',
      text: `WITH inserted AS (
         INSERT INTO event_log (topic, partition_key, event_id, event)
         SELECT topic, partition_key, event_id, event
         FROM ROWS FROM (unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), json_array_elements($4::json))
           WITH ORDINALITY AS x(topic, partition_key, event_id, event, n)
         ORDER BY n
         RETURNING topic
       )
       SELECT topic, count(*)::int AS n, pg_notify($5, topic) FROM inserted GROUP BY topic`,
      values: [
        messages.map((m) => m.topic),
        messages.map((m) => m.partitionKey),
        messages.map((m) => m.event.id),
        JSON.stringify(messages.map((m) => m.event)),
        CHANNEL,
      ],
    });
    for (const r of rows) published?.inc({ topic: r.topic }, r.n);
  }

  return {
    publish: (messages) => publish(messages),
    // In the caller's transaction, straight into the log: nothing to relay, one reader.
    publishInTransaction: (tx, messages) => publish(messages, tx),
    recordsDeadLetters: true,
    acknowledgesInDatabase: true,

    subscribe(subscription) {
      if (running) throw new Error('subscribe before start()');
      subscriptions.push(subscription);
    },

    async start() {
      if (running) return;
      running = true;
      if (subscriptions.length === 0) return;
      control = createControlConnection(
        options,
        (topic) => {
          for (const c of consumers) if (c.topic === topic) c.wake();
        },
        () => {
          for (const c of consumers) c.wake();
        },
      );
      await control.connect();
      for (const sub of subscriptions) consumers.push(createConsumer(sub, { ...options, publish, control }));
      await Promise.all(consumers.map((c) => c.start()));
    },

    async stop() {
      if (!running) return;
      running = false;
      await Promise.all(consumers.map((c) => c.stop()));
      consumers.length = 0;
      await control?.close();
      control = undefined;
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

/** A consumer's next events on topic $2 after `position`, with whether each is below the visibility horizon. */
const fetchAfter = (position: string) => `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
  SELECT e.id, e.tx::text AS tx, e.partition_key, e.event, e.tx < h.xmin AS visible
  FROM event_log e, h
  WHERE e.topic = $2
    AND (e.tx, e.id) > ${position}
  ORDER BY e.tx, e.id LIMIT ${BATCH + 1}`;

/**
 * After the stored checkpoint ($1 consumer, $2 topic). The checkpoint is a row subquery, not a
 * joined CTE: so it is an index condition and the scan starts at the checkpoint. Joined, it was
 * a filter, and every fetch read the topic's whole retained log up to the checkpoint (245 ms at
 * 165,000 events, not 1 ms).
 */
export const FETCH_NEW_SQL = fetchAfter(
  '(SELECT tx, last_id FROM consumer_checkpoints WHERE consumer = $1 AND topic = $2)',
);
/** After the position this process reached ($1 tx, $3 id), while its checkpoint commit may still be on its way. */
const FETCH_AFTER_SQL = fetchAfter('($1::xid8, $3::bigint)');

type Consumer = ReturnType<typeof createConsumer>;

function createConsumer(
  sub: Subscription,
  options: EmbeddedBusOptions & {
    publish: (m: OutgoingMessage[], c: Transaction) => Promise<void>;
    control: Control;
  },
) {
  const { pool, logger, retryDelaysMs, control } = options;
  const fallbackPollMs = options.fallbackPollMs ?? FALLBACK_POLL_MS;
  const horizonPollMs = options.horizonPollMs ?? HORIZON_POLL_MS;
  const { topic, consumer } = sub;
  const deadLetterTopic = sub.deadLetterTopic ?? `${topic}.dlq`;
  const log = logger.child({ consumer, topic });
  const lockKey = `taskstream_consumer|${consumer}|${topic}`;
  const metrics = options.metrics;
  const counters = deliveryMetrics(metrics);

  let stopped = false;
  let wakeRequested = true;
  let wakeUp: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  /** Keys whose events wait in consumer_retries (there stored under the same order key). */
  const blockedKeys = new Set<string>();
  /**
   * Where this process has handled up to; undefined until read from the checkpoint (at start,
   * after the lock was taken again, after a failed commit).
   */
  let position: { tx: string; id: number } | undefined;
  /** The last batch's checkpoint commit, while it runs; the next batch is fetched meanwhile. */
  let committing: Promise<void> | undefined;
  let commitError: unknown;
  /** Events with the same order key run one after another, in log order; the partition key unless the subscription says. */
  const orderKeyOf = (row: LogRow) => sub.orderKey?.(row.event) ?? row.partition_key;

  /** Runs the handler once (in a consumer span); returns the error text, or undefined when the event is done with. */
  function attempt(event: Envelope, attemptNo: number): Promise<string | undefined> {
    return runHandler(sub, event, { topic, consumer, attempt: attemptNo }, logger, counters);
  }

  /**
   * Handles the next batch of new events. Returns whether more may be waiting right away, and
   * whether committed events wait behind an older open transaction.
   */
  async function handleNew(): Promise<{ more: boolean; hidden: boolean }> {
    if (commitError !== undefined) {
      // Read from the stored checkpoint again: what was handled since is delivered again.
      const err = commitError;
      commitError = undefined;
      position = undefined;
      throw err;
    }
    const { rows: all } = await (position
      ? pool.query<LogRow>({
          name: 'event_bus_fetch_after',
          text: FETCH_AFTER_SQL,
          values: [position.tx, topic, position.id],
        })
      : pool.query<LogRow>({ name: 'event_bus_fetch_new', text: FETCH_NEW_SQL, values: [consumer, topic] }));
    // Rows are in tx order, so the visible ones come first.
    const rows = all.filter((r) => r.visible).slice(0, BATCH);
    const hidden = all.some((r) => !r.visible);
    const more = rows.length === BATCH;
    if (rows.length === 0) return { more: false, hidden };

    const byKey = new Map<string, LogRow[]>();
    for (const row of rows) {
      const key = orderKeyOf(row);
      const list = byKey.get(key);
      if (list) list.push(row);
      else byKey.set(key, [row]);
    }
    // Events not handled in this pass: failed ones (with their error), and those queued behind a
    // failure, a key already held back, or a stop. All wait in consumer_retries, in log order.
    const parked: { row: LogRow; error?: string }[] = [];
    const groups = [...byKey.entries()];
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const [key, list] = groups[next++]!;
        let i = 0;
        if (!blockedKeys.has(key)) {
          for (; i < list.length && !stopped; i++) {
            const error = await attempt(list[i]!.event, 1);
            if (error !== undefined) {
              parked.push({ row: list[i]!, error });
              i++;
              break;
            }
          }
        }
        for (; i < list.length; i++) parked.push({ row: list[i]! });
        if (parked.some((p) => orderKeyOf(p.row) === key)) blockedKeys.add(key);
      }
    };
    await Promise.all(
      Array.from(
        { length: Math.min(sub.concurrency ?? options.keyConcurrency ?? KEY_CONCURRENCY, groups.length) },
        worker,
      ),
    );

    const last = rows[rows.length - 1]!;
    const previous = committing;
    const commit = async () => {
      await previous; // checkpoints move forward in order
      await commitBatch(last, parked);
    };
    if (parked.length > 0) {
      // handleRetries reads the parked rows next: they must be in first.
      committing = undefined;
      await commit();
    } else {
      // The checkpoint's commit waits for its WAL flush (which also makes the handlers'
      // asynchronous commits durable); the next batch need not wait for it too.
      const current = commit().catch((err) => {
        commitError ??= err;
      });
      committing = current;
      void current.finally(() => {
        if (committing === current) committing = undefined;
      });
    }
    position = { tx: last.tx, id: last.id };
    for (const p of parked) {
      if (p.error === undefined) continue;
      if (retryDelaysMs.length === 0) continue; // dead-lettered right away by handleRetries
      counters.retried?.inc({ topic, consumer });
      log.warn(
        {
          event_id: p.row.event.id,
          trace_id: traceIdOf(p.row.event.traceparent),
          attempt: 1,
          error: p.error,
          retry_in_ms: retryDelaysMs[0],
        },
        'handler failed; will retry',
      );
    }
    return { more, hidden };
  }

  /**
   * Parks the events not handled and moves the checkpoint past the batch: one statement, so one
   * transaction and one round trip (with nothing to park the insert writes no row).
   */
  async function commitBatch(last: LogRow, parked: { row: LogRow; error?: string }[]) {
    // The checkpoint only moves forwards: a commit of a process that has lost the consumer's
    // lock may land late.
    await pool.query({
      name: 'event_bus_commit_batch',
      text: `WITH parked AS (
         INSERT INTO consumer_retries (consumer, topic, event_log_id, partition_key, attempts, next_attempt_at, last_error, first_failed_at)
         SELECT $1, $2, p.id, p.key, CASE WHEN p.error IS NULL THEN 0 ELSE 1 END,
           CASE WHEN p.error IS NULL THEN NULL ELSE now() + make_interval(secs => $6::float8 / 1000) END,
           p.error, CASE WHEN p.error IS NULL THEN NULL ELSE now() END
         FROM unnest($3::bigint[], $4::text[], $5::text[]) AS p(id, key, error)
         ON CONFLICT DO NOTHING
       )
       UPDATE consumer_checkpoints SET tx = $7::xid8, last_id = $8, updated_at = now()
       WHERE consumer = $1 AND topic = $2 AND (tx, last_id) < ($7::xid8, $8::bigint)`,
      values: [
        consumer,
        topic,
        parked.map((p) => p.row.id),
        parked.map((p) => orderKeyOf(p.row)),
        parked.map((p) => p.error ?? null),
        retryDelaysMs[0] ?? 0,
        last.tx,
        last.id,
      ],
    });
  }

  /** Works through held-back keys; returns ms until the next retry is due (or undefined). */
  async function handleRetries(): Promise<number | undefined> {
    if (blockedKeys.size === 0) return undefined;
    let soonest: number | undefined;
    for (const key of [...blockedKeys]) {
      if (stopped) break;
      while (!stopped) {
        const { rows } = await pool.query(
          `SELECT r.event_log_id, r.attempts, r.last_error, r.first_failed_at, e.partition_key,
             (extract(epoch FROM (coalesce(r.next_attempt_at, now()) - now())) * 1000)::float8 AS wait_ms, e.event
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
        // A failed event (attempts >= 1) that has used up its retries, e.g. after a restart with
        // fewer configured delays, goes to the dead-letter topic without another attempt.
        if (head.attempts > retryDelaysMs.length) {
          await deadLetter(
            head.event_log_id,
            head.event,
            head.partition_key,
            head.last_error ?? 'retries exhausted',
            head.attempts,
            head.first_failed_at,
          );
          continue;
        }
        const attemptNo = head.attempts + 1;
        const error = await attempt(head.event, attemptNo);
        if (error === undefined) {
          await pool.query(
            'DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3',
            [consumer, topic, head.event_log_id],
          );
          continue;
        }
        if (attemptNo > retryDelaysMs.length) {
          await deadLetter(
            head.event_log_id,
            head.event,
            head.partition_key,
            error,
            attemptNo,
            head.first_failed_at,
          );
          continue;
        }
        const delay = retryDelaysMs[attemptNo - 1]!;
        await pool.query(
          `UPDATE consumer_retries SET attempts = $4, last_error = $5, first_failed_at = coalesce(first_failed_at, now()),
             next_attempt_at = now() + make_interval(secs => $6::float8 / 1000)
           WHERE consumer = $1 AND topic = $2 AND event_log_id = $3`,
          [consumer, topic, head.event_log_id, attemptNo, error, delay],
        );
        counters.retried?.inc({ topic, consumer });
        log.warn(
          {
            event_id: head.event.id,
            trace_id: traceIdOf(head.event.traceparent),
            attempt: attemptNo,
            error,
            retry_in_ms: delay,
          },
          'handler failed; will retry',
        );
        soonest = Math.min(soonest ?? Number.POSITIVE_INFINITY, delay);
        break;
      }
    }
    return soonest;
  }

  async function deadLetter(
    logId: number,
    event: Envelope,
    key: string,
    reason: string,
    attempts: number,
    firstFailedAt: Date | null,
  ) {
    await withTransaction(pool, async (client) => {
      await client.query(
        `INSERT INTO dead_letters (topic, consumer, partition_key, event_id, event, reason, attempts, first_failed_at, last_failed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), now())`,
        [topic, consumer, key, event.id, JSON.stringify(event), reason, attempts, firstFailedAt],
      );
      // The same event on `<topic>.dlq`, with why it is there as CloudEvents extension attributes.
      const dead: Envelope = {
        ...event,
        deadletterreason: reason,
        deadletterconsumer: consumer,
        deadletterattempts: attempts,
      };
      await options.publish([{ topic: deadLetterTopic, partitionKey: key, event: dead }], client);
      await client.query(
        'DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3',
        [consumer, topic, logId],
      );
    });
    counters.consumed?.inc({ topic, consumer, result: 'dead_lettered' });
    counters.deadLettered?.inc({ topic, consumer });
    log.error(
      {
        event_id: event.id,
        trace_id: traceIdOf(event.traceparent),
        attempts,
        reason,
        dead_letter_topic: deadLetterTopic,
      },
      'event dead-lettered',
    );
  }

  function sleep(ms: number) {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      wakeUp = undefined;
    });
  }

  async function run() {
    while (!stopped) {
      // One instance per consumer and topic across processes: a session advisory lock on the
      // bus's own connection (taken again after that connection was lost).
      if (!control.holds(lockKey)) {
        // Another process may have held the lock meanwhile: start from the stored checkpoint.
        position = undefined;
        if (!(await control.tryLock(lockKey))) {
          if (!stopped) await sleep(LOCK_RETRY_MS);
          continue;
        }
      }
      let waitMs = fallbackPollMs;
      try {
        wakeRequested = false;
        const { more, hidden } = await handleNew();
        const retryIn = await handleRetries();
        if (more) continue;
        if (hidden) waitMs = Math.min(waitMs, horizonPollMs);
        if (retryIn !== undefined) waitMs = Math.min(waitMs, Math.max(5, retryIn));
      } catch (err) {
        if (stopped) break;
        log.error({ err }, 'consumer loop error; backing off');
        waitMs = 1000;
      }
      if (stopped || wakeRequested) continue;
      await sleep(waitMs);
    }
    await committing; // the last checkpoint is in before stop() lets go of the lock
  }

  return {
    topic,
    wake() {
      wakeRequested = true;
      wakeUp?.();
    },
    async start() {
      await pool.query(
        'INSERT INTO consumer_checkpoints (consumer, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [consumer, topic],
      );
      const { rows } = await pool.query(
        'SELECT DISTINCT partition_key FROM consumer_retries WHERE consumer = $1 AND topic = $2',
        [consumer, topic],
      );
      for (const r of rows) blockedKeys.add(r.partition_key);
      loop = run().catch((err) => log.error({ err }, 'consumer stopped on error'));
    },
    /** Stops taking events; the ones in hand finish (events not yet begun wait for the next start). */
    async stop() {
      stopped = true;
      wakeUp?.();
      const timeoutMs = options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        loop ? loop.then(() => true) : Promise.resolve(true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!finished)
        log.warn(
          { timeout_ms: timeoutMs },
          'handlers still running at shutdown; their events will be delivered again',
        );
      await control.unlock(lockKey);
    },
  };
}
