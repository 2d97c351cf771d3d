import type { Pool } from '../db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ConsumerLag, EventBus, OutgoingMessage, Subscription, Transaction } from '../ports.js';
import { type Consumer, createConsumer } from './consumer/index.js';
import { CHANNEL, type Control, createControlConnection } from './control-connection.js';

export { FETCH_NEW_SQL } from './consumer/log-reader.js';

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
