import type { DaprClient } from '@dapr/dapr';
import type { Response, Router } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { deliveryMetrics, runHandler } from '../ops/delivery.js';
import type { Envelope, EventBus, OutgoingMessage, Subscription } from '../ports.js';
import { traceIdOf } from '../trace.js';
import type { KafkaLagReader } from './kafka-lag.js';
import { createOutboxRelay, type OutboxRelayOptions, writeOutbox } from './outbox.js';

export interface DaprEventBusOptions {
  dapr: DaprClient;
  pubsubName: string;
  /** The sidecar callback router (token-checked, JSON-parsed) to mount the routes on. */
  router: Router;
  logger: Logger;
  /** Wait before attempt 2, 3, ...; after the last one the event goes to the dead-letter topic. */
  retryDelaysMs: number[];
  /** Published, consumed, retried and dead-lettered counters and handler durations (as the embedded bus). */
  metrics?: Metrics;
  /**
   * Reads consumer lag from the brokers behind the sidecar (daprd does not expose it); without
   * one the bus has no `lag` and the lag is reported as not measured.
   */
  lagReader?: KafkaLagReader;
  /** Topics whose lag is measured besides this app's own: those the other apps consume. */
  lagTopics?: string[];
  /** This app's consumer group (the app id): measured on its topics even before it commits. */
  consumerGroup?: string;
  /**
   * The outbox in the services' database that `publishInTransaction` writes to, and whose rows
   * of `app` the bus's relay publishes while it runs. Without it the bus cannot publish in a
   * transaction.
   */
  outbox?: Pick<OutboxRelayOptions, 'pool' | 'connectionString' | 'app'>;
  /**
   * Bulk delivery: at most `maxMessages` events per request, gathered for at most `maxAwaitMs`.
   * Undefined: one event per request.
   */
  bulkSubscribe?: { maxMessages: number; maxAwaitMs: number };
}

/** One event of a bulk delivery, as daprd sends it. */
interface BulkEntry {
  entryId: string;
  event: Record<string, unknown>;
  metadata?: Record<string, string>;
}

type DeliveryStatus = 'SUCCESS' | 'RETRY';

/** Fields daprd adds to every delivered CloudEvent; handlers get the event as it was published. */
const DAPR_ADDED = ['pubsubname', 'topic', 'traceid'] as const;
/** Bounds the attempt counts kept for events that Dapr gave up on without telling us. */
const MAX_TRACKED = 10_000;

/**
 * EventBus through the Dapr sidecar (Kafka behind it).
 *
 * Publish: the CloudEvent goes as-is (`application/cloudevents+json`), so our id, type, time and
 * traceparent reach the consumer; `partitionKey` becomes the Kafka record key, which keeps one
 * user's events in order.
 *
 * Consume: programmatic subscriptions (`GET /dapr/subscribe`, read once when daprd starts, so
 * subscribe before the sidecar starts). daprd's Kafka consumer hands over one partition's
 * events at a time and waits for the answer. With `bulkSubscribe` each subscription is a bulk
 * one (ADR 0028): a delivery carries what has gathered, and its events run in lanes by order key
 * (the Kafka key unless the subscription names a finer one): lanes side by side, each lane in log
 * order, and a lane stops at an event that is to be retried (the rest of it is answered RETRY
 * unrun, so a key's order holds). Dapr 1.18 cannot express our 1 s / 5 s / 25 s backoff
 * in Resiliency and tells the app nothing about attempts, so this adapter counts attempts per
 * consumer and event id, waits the configured delay before answering RETRY (Resiliency then
 * redelivers promptly), and after the last attempt publishes the event to `<topic>.dlq` with
 * the error as CloudEvents extension attributes, like the embedded bus.
 */
export function createDaprEventBus(options: DaprEventBusOptions): EventBus {
  const { dapr, pubsubName, router, logger, retryDelaysMs } = options;
  const subscriptions = new Map<string, Subscription>();
  const attempts = new Map<string, number>();
  const inFlight = new Set<Promise<unknown>>();
  const pendingWaits = new Set<() => void>();
  let stopping = false;
  const counters = deliveryMetrics(options.metrics);
  const published = options.metrics?.counter('events_published_total', 'Events published', ['topic']);

  /** daprd replaces `traceparent` with its own span unless `traceid` is present; naming the same trace in both keeps ours end to end. */
  function eventOf(message: OutgoingMessage) {
    const event = { ...message.event };
    if (event.traceparent && event.traceid === undefined) event.traceid = event.traceparent;
    return event;
  }

  async function publishOne(message: OutgoingMessage) {
    const result = await dapr.pubsub.publish(pubsubName, message.topic, eventOf(message), {
      contentType: 'application/cloudevents+json',
      metadata: { partitionKey: message.partitionKey },
    });
    if (result.error) throw new Error(`publish to ${message.topic} failed: ${errorText(result.error)}`);
    published?.inc({ topic: message.topic });
  }

  /** One bulk request to the sidecar for one topic (entries in it have no order among them). */
  async function publishBulk(topic: string, messages: OutgoingMessage[]) {
    if (messages.length === 1) return publishOne(messages[0]!);
    const result = await dapr.pubsub.publishBulk(
      pubsubName,
      topic,
      messages.map((message, i) => ({
        entryID: String(i),
        event: eventOf(message),
        contentType: 'application/cloudevents+json',
        metadata: { partitionKey: message.partitionKey },
      })),
    );
    const failed = result.failedMessages ?? [];
    published?.inc({ topic }, messages.length - failed.length);
    if (failed.length > 0) {
      throw new Error(
        `bulk publish to ${topic}: ${failed.length} of ${messages.length} failed: ${errorText(failed[0]!.error)}`,
      );
    }
  }

  function delay(ms: number) {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pendingWaits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      pendingWaits.add(done);
    });
  }

  async function deliver(
    sub: Subscription,
    event: Envelope,
    partitionKey: string | undefined,
  ): Promise<DeliveryStatus> {
    const deadLetterTopic = sub.deadLetterTopic ?? `${sub.topic}.dlq`;
    const key = `${sub.consumer}|${event.id}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.delete(key); // re-insert at the end: the map stays in least-recently-seen order
    attempts.set(key, attempt);
    if (attempts.size > MAX_TRACKED) attempts.delete(attempts.keys().next().value as string);

    // In a consumer span continuing the event's traceparent; undefined when done with.
    const error = await runHandler(
      sub,
      event,
      { topic: sub.topic, consumer: sub.consumer, attempt },
      logger,
      counters,
    );
    const log = logger.child({
      consumer: sub.consumer,
      topic: sub.topic,
      event_id: event.id,
      trace_id: traceIdOf(event.traceparent),
      attempt,
    });
    // DROP is answered as SUCCESS: Dapr 1.18 sends DROPped events to the dead-letter topic.
    if (error === undefined) {
      attempts.delete(key);
      return 'SUCCESS';
    }
    if (attempt <= retryDelaysMs.length && !stopping) {
      const wait = retryDelaysMs[attempt - 1];
      counters.retried?.inc({ topic: sub.topic, consumer: sub.consumer });
      log.warn({ error, retry_in_ms: wait }, 'handler failed; will retry');
      await delay(wait);
      return 'RETRY';
    }
    if (stopping) return 'RETRY';
    const dead: Envelope = {
      ...event,
      deadletterreason: error,
      deadletterconsumer: sub.consumer,
      deadletterattempts: attempt,
    };
    try {
      await publishOne({
        topic: deadLetterTopic,
        partitionKey: partitionKey ?? event.subject ?? event.id,
        event: dead,
      });
    } catch (err) {
      // The subscription's own deadLetterTopic (Dapr's) catches it once Resiliency gives up.
      log.error({ err, error }, 'could not publish to the dead-letter topic; leaving it to the sidecar');
      return 'RETRY';
    }
    attempts.delete(key);
    counters.consumed?.inc({ topic: sub.topic, consumer: sub.consumer, result: 'dead_lettered' });
    counters.deadLettered?.inc({ topic: sub.topic, consumer: sub.consumer });
    log.error({ reason: error, dead_letter_topic: deadLetterTopic }, 'event dead-lettered');
    return 'SUCCESS';
  }

  /** One bulk delivery: lanes by order key side by side, each in order; statuses in entry order. */
  async function deliverBulk(sub: Subscription, entries: BulkEntry[]) {
    const statuses = new Map<string, DeliveryStatus>();
    const lanes = new Map<string, { entry: BulkEntry; event: Envelope }[]>();
    for (const entry of entries) {
      const event = asPublished(entry.event);
      if (passesBy(sub, event)) {
        statuses.set(entry.entryId, 'SUCCESS');
        continue;
      }
      const partitionKey = entry.metadata?.__key;
      const lane = `${partitionKey}\u0000${sub.orderKey?.(event) ?? ''}`;
      const list = lanes.get(lane);
      if (list) list.push({ entry, event });
      else lanes.set(lane, [{ entry, event }]);
    }
    await Promise.all(
      [...lanes.values()].map(async (lane) => {
        for (let i = 0; i < lane.length; i++) {
          const { entry, event } = lane[i]!;
          const status = await deliver(sub, event, entry.metadata?.__key);
          statuses.set(entry.entryId, status);
          if (status === 'RETRY') {
            for (const later of lane.slice(i + 1)) statuses.set(later.entry.entryId, 'RETRY');
            return;
          }
        }
      }),
    );
    return entries.map((entry) => ({
      entryId: entry.entryId,
      status: statuses.get(entry.entryId) ?? 'RETRY',
    }));
  }

  router.get('/dapr/subscribe', (_req, res) => {
    const bulk = options.bulkSubscribe;
    res.json(
      [...subscriptions.values()].map((sub) => ({
        pubsubname: pubsubName,
        topic: sub.topic,
        route: routeOf(sub),
        deadLetterTopic: sub.deadLetterTopic ?? `${sub.topic}.dlq`,
        ...(bulk && {
          bulkSubscribe: {
            enabled: true,
            maxMessagesCount: bulk.maxMessages,
            maxAwaitDurationMs: sub.bulkMaxAwaitMs ?? bulk.maxAwaitMs,
          },
        }),
      })),
    );
  });

  router.post('/events/:consumer/:topic', async (req, res) => {
    const sub = subscriptions.get(`${req.params.consumer}/${req.params.topic}`);
    if (!sub) {
      res.status(404).end(); // not a route daprd got from /dapr/subscribe
      return;
    }
    if (!options.bulkSubscribe) {
      if (stopping || typeof req.body !== 'object' || req.body === null) {
        res.json({ status: 'RETRY' });
        return;
      }
      const event = asPublished(req.body as Record<string, unknown>);
      if (passesBy(sub, event)) {
        res.json({ status: 'SUCCESS' });
        return;
      }
      await answer(res, deliver(sub, event, req.header('__key') ?? undefined), (status) => ({ status }));
      return;
    }
    const entries = bulkEntriesOf(req.body);
    if (!entries) {
      res.status(400).json({
        error: 'invalid_request',
        message: 'expected a bulk delivery: entries with an entryId and a CloudEvent each',
      });
      return;
    }
    if (stopping) {
      res.json({ statuses: entries.map((entry) => ({ entryId: entry.entryId, status: 'RETRY' })) });
      return;
    }
    await answer(res, deliverBulk(sub, entries), (statuses) => ({ statuses }));
  });

  /** Answers the sidecar once the work is done; `stop` waits for work in flight. */
  async function answer<T>(res: Response, work: Promise<T>, body: (result: T) => unknown) {
    inFlight.add(work);
    try {
      res.json(body(await work));
    } finally {
      inFlight.delete(work);
    }
  }

  async function publish(messages: OutgoingMessage[]) {
    // A bulk request keeps no order among its entries, so each carries at most one record per
    // key: round r holds every key's r-th record, one request per topic, and round r + 1
    // starts when round r is in (each waits for Kafka's acks). A batch then costs one round
    // trip per record of its busiest key instead of one per record.
    const lanes = new Map<string, OutgoingMessage[]>();
    for (const message of messages) {
      const key = `${message.topic}\u0000${message.partitionKey}`;
      const lane = lanes.get(key);
      if (lane) lane.push(message);
      else lanes.set(key, [message]);
    }
    const depth = Math.max(0, ...[...lanes.values()].map((lane) => lane.length));
    for (let round = 0; round < depth; round++) {
      const byTopic = new Map<string, OutgoingMessage[]>();
      for (const lane of lanes.values()) {
        const message = lane[round];
        if (!message) continue;
        const list = byTopic.get(message.topic);
        if (list) list.push(message);
        else byTopic.set(message.topic, [message]);
      }
      // Settle all before failing: a retry of the batch must not race records still in flight.
      const failed = (
        await Promise.allSettled([...byTopic].map(([topic, list]) => publishBulk(topic, list)))
      ).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  const outbox = options.outbox;
  const relay = outbox && createOutboxRelay({ ...outbox, publish, logger, metrics: options.metrics });

  const bus: EventBus = {
    publish,

    async publishInTransaction(tx, messages) {
      if (!outbox) throw new Error('this dapr bus was given no outbox: it cannot publish in a transaction');
      await writeOutbox(tx, outbox.app, messages);
    },
    // Dead letters travel on `<topic>.dlq`; the sidecar acknowledges to Kafka, not to the database.
    recordsDeadLetters: false,
    acknowledgesInDatabase: false,

    subscribe(subscription) {
      // One Dapr subscription per topic and app: a second consumer of the same topic in one
      // app would silently replace the first.
      for (const existing of subscriptions.values()) {
        if (existing.topic === subscription.topic) {
          throw new Error(
            `topic ${subscription.topic} already has consumer ${existing.consumer}; one consumer per topic and app under Dapr`,
          );
        }
      }
      subscriptions.set(`${subscription.consumer}/${subscription.topic}`, subscription);
    },

    async start() {
      stopping = false;
      await relay?.start();
    },

    async stop() {
      stopping = true;
      // Deliveries waiting out a retry delay answer RETRY now; handlers that run are awaited.
      for (const wake of [...pendingWaits]) wake();
      await Promise.allSettled([...inFlight]);
      await relay?.stop();
      await dapr.stop(); // closes the SDK's keep-alive sockets to the sidecar
      await options.lagReader?.close();
    },
  };
  const reader = options.lagReader;
  if (reader) {
    bus.lag = () => {
      const own = [...subscriptions.values()].map((sub) => sub.topic);
      const group = options.consumerGroup;
      return reader.read([...(options.lagTopics ?? []), ...own], group ? { group, topics: own } : undefined);
    };
  }
  return bus;
}

function routeOf(sub: Subscription) {
  return `/events/${encodeURIComponent(sub.consumer)}/${encodeURIComponent(sub.topic)}`;
}

/** Not a type the subscription's handler acts on: acknowledged without running it. */
function passesBy(sub: Subscription, event: Envelope) {
  return sub.types !== undefined && !sub.types.includes(event.type);
}

function bulkEntriesOf(body: unknown): BulkEntry[] | undefined {
  const entries = (body as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) return undefined;
  // daprd sends a CloudEvent subscription's events parsed: an entry without one is not daprd's.
  const valid = entries.every(
    (entry) =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as BulkEntry).entryId === 'string' &&
      typeof (entry as BulkEntry).event === 'object' &&
      (entry as BulkEntry).event !== null,
  );
  return valid ? (entries as BulkEntry[]) : undefined;
}

function asPublished(raw: Record<string, unknown>): Envelope {
  const event = { ...raw };
  for (const field of DAPR_ADDED) delete event[field];
  if (event.tracestate === '') delete event.tracestate;
  return event as Envelope;
}

function errorText(error: unknown) {
  return error instanceof Error ? error.message : String(error);
}
