/**
 * The four ports every service depends on. Services never import Dapr, Kafka or a timer:
 * `embedded/*` implements these on PostgreSQL, `dapr/*` on a Dapr sidecar.
 */

import type { PoolClient } from './db.js';
import type { Logger } from './logger.js';

/** A CloudEvent as it travels; shapes and validation live in @taskstream/contracts. */
export interface Envelope {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  traceparent?: string;
  data: unknown;
  [extension: string]: unknown;
}

export interface OutgoingMessage {
  topic: string;
  /** Events with the same key are delivered in publish order (key = user id). */
  partitionKey: string;
  event: Envelope;
}

/**
 * What a handler tells the bus. Throwing is the same as RETRY.
 * DROP acknowledges without effect (e.g. an event type this consumer ignores).
 */
export type HandlerResult = 'SUCCESS' | 'RETRY' | 'DROP';

export interface DeliveryContext {
  topic: string;
  consumer: string;
  /** 1 on first delivery. */
  attempt: number;
  /**
   * The consumer span's W3C traceparent (same trace as the event's): put it on what the
   * handler causes (invocations, events it publishes). Both bus adapters set it.
   */
  traceparent?: string;
  /** A logger carrying trace_id, topic, consumer and event_id. Both bus adapters set it. */
  log?: Logger;
}

export interface Subscription {
  topic: string;
  /** Stable consumer name (checkpoints and consumer groups hang off it), e.g. `audit`. */
  consumer: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing acknowledges
  handler: (event: Envelope, ctx: DeliveryContext) => Promise<HandlerResult | void>;
  /** Defaults to `<topic>.dlq`. */
  deadLetterTopic?: string;
  /**
   * A finer order than the partition key, for a consumer that only needs some events in order
   * (e.g. those of one task): the embedded bus runs events with different order keys of one user
   * side by side, and holds back only the order key of a failing event; so does the Dapr bus within
   * one bulk delivery (one Kafka partition's events). Undefined: the partition key.
   */
  orderKey?: (event: Envelope) => string | undefined;
  /**
   * How many order keys the embedded bus runs at once for this consumer (default
   * BUS_KEY_CONCURRENCY). A consumer that gathers concurrent events into one write (the audit
   * trail) takes a whole batch at once with Infinity. Under Dapr every order key of a bulk
   * delivery runs at once (DAPR_BULK_SUBSCRIBE_MAX_MESSAGES bounds it).
   */
  concurrency?: number;
  /**
   * The CloudEvent types the handler acts on (undefined: all). The embedded bus passes the others
   * by without fetching their bodies or running the handler; under Dapr the sidecar delivers every
   * event and the bus answers the others without running the handler (Dapr 1.18's routing rules
   * would send them to the dead-letter topic, ADR 0028).
   */
  types?: readonly string[];
  /**
   * Under Dapr, the longest one partition's events wait to fill a bulk delivery (default
   * DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS). daprd wakes every this many ms for each partition of each
   * subscription, idle or not: a rarely written topic whose events are not urgent (dead letters)
   * waits longer and spares the sidecar that CPU.
   */
  bulkMaxAwaitMs?: number;
}

/** Events written to a topic and not yet handled by a consumer (ADR 0011). */
export interface ConsumerLag {
  consumer: string;
  topic: string;
  lag: number;
}

/**
 * The caller's open transaction: the connection it runs on, between its BEGIN and COMMIT. The
 * adapter runs its own statements on it, so what it writes commits or rolls back with the caller's.
 */
export type Transaction = Pick<PoolClient, 'query'>;

export interface EventBus {
  /** Publish in order; resolves when the bus holds the messages durably. */
  publish(messages: OutgoingMessage[]): Promise<void>;
  /**
   * Publishes `messages` if and only if the transaction `tx` commits, each exactly once as far as
   * the bus is concerned (at least once to consumers, which dedupe by event id). The embedded bus
   * writes them into its event log in the transaction; the `dapr` bus writes them to an outbox in
   * the transaction and relays them after the commit, also after a crash in between.
   *
   * Order: per partition key, messages of one transaction in the order given, and messages of two
   * transactions in the order the transactions took their ids (their first write). A caller that
   * needs commit order for a key serializes its transactions on the key before their first write
   * (task-api takes the user's advisory lock first).
   */
  publishInTransaction(tx: Transaction, messages: OutgoingMessage[]): Promise<void>;
  /**
   * Whether the bus records what it dead-letters in `dead_letters` itself (the embedded bus,
   * which owns the database). Otherwise dead letters only travel on `<topic>.dlq`, and a consumer
   * of those topics records them (task-api's admin).
   */
  readonly recordsDeadLetters: boolean;
  /**
   * Whether the bus acknowledges a handled event with a durable commit to the service's database,
   * made after the handler returned (the embedded bus's consumer checkpoint). Its WAL flush then
   * also makes the handler's earlier asynchronous commits durable, so a handler may write without
   * waiting for its own flush: after a database crash the events past the checkpoint come again.
   */
  readonly acknowledgesInDatabase: boolean;
  /** Register before start(). */
  subscribe(subscription: Subscription): void;
  start(): Promise<void>;
  /** Stop intake, let in-flight handlers finish. */
  stop(): Promise<void>;
  /**
   * Lag of every consumer the bus can see, per topic: the embedded bus reads its event log and
   * checkpoints; the `dapr` bus reads Kafka's offsets, and has no `lag` when it is given no
   * brokers (the sidecar hides them). Absent means "not measured", not "no lag".
   */
  lag?(): Promise<ConsumerLag[]>;
}

export interface StoredState<T> {
  value: T;
  etag: string;
}

export interface SaveOptions {
  /** Save only when the stored etag still matches (first-write when the key is absent: omit). */
  etag?: string;
  ttlSeconds?: number;
}

export class EtagMismatchError extends Error {
  constructor(key: string) {
    super(`etag mismatch for state key ${key}`);
    this.name = 'EtagMismatchError';
  }
}

export interface StateStore {
  get<T>(key: string): Promise<StoredState<T> | undefined>;
  /** Returns the new etag; throws EtagMismatchError on a stale etag. */
  save<T>(key: string, value: T, options?: SaveOptions): Promise<string>;
  delete(key: string, options?: { etag?: string }): Promise<void>;
}

export interface JobSpec {
  /** Unique; scheduling an existing name overwrites that job. */
  name: string;
  /** RFC 3339 time or a Go-style duration ("10s", "1h30m"). */
  dueTime?: string;
  /** Dapr schedule: "@every 1m", "@daily", or a 6-field cron (seconds first). */
  schedule?: string;
  repeats?: number;
  /** RFC 3339 time or duration after which the job is dropped. */
  ttl?: string;
  data?: unknown;
}

export interface JobTrigger {
  name: string;
  data: unknown;
}

export interface JobScheduler {
  schedule(job: JobSpec): Promise<void>;
  get(name: string): Promise<JobSpec | undefined>;
  delete(name: string): Promise<void>;
  /**
   * Handle triggers of jobs whose name starts with `prefix`. Throwing makes the
   * scheduler try again later (at least once).
   */
  onTrigger(prefix: string, handler: (trigger: JobTrigger) => Promise<void>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface InvokeRequest {
  appId: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface InvokeResponse<T = unknown> {
  status: number;
  body: T;
}

export interface Invoker {
  invoke<T = unknown>(request: InvokeRequest): Promise<InvokeResponse<T>>;
}

/** One message as it sits on a topic: where, under which key, when, and the CloudEvent it carries. */
export interface TopicMessage {
  topic: string;
  partition: number;
  /** The offset in its partition (Kafka), or the event log id (embedded). */
  position: number;
  key: string | null;
  /** When the broker (or the event log) took it, ISO 8601. */
  timestamp: string;
  headers: Record<string, string>;
  /** The value as JSON (the CloudEvent), or its text when it is not JSON. */
  event: unknown;
}

export interface TopicSummary {
  topic: string;
  /** Per partition: the oldest kept position and the next one to be written. */
  partitions: { partition: number; start: number; end: number }[];
}

export interface TopicReadQuery {
  partition: number;
  /** From this position on (default: the oldest kept). */
  from?: number;
  /** From the first message at or after this time (instead of `from`). */
  since?: Date;
  /** Only messages with this key. */
  key?: string;
  limit: number;
}

export interface TopicPage {
  messages: TopicMessage[];
  /** Where the next page starts (a key filter may have skipped messages up to it); null: at the end. */
  next: number | null;
}

/**
 * Reading what is on a topic, as a Kafka UI would (ADR 0019): the embedded runtime reads its event
 * log, the Dapr runtime the brokers behind the sidecar. Every read is bounded: at most `limit`
 * messages, and a bounded stretch of the partition scanned for a key filter.
 */
export interface TopicBrowser {
  topics(): Promise<TopicSummary[]>;
  /** Undefined: no such topic. */
  read(topic: string, query: TopicReadQuery): Promise<TopicPage | undefined>;
  close?(): Promise<void>;
}

export interface Ports {
  bus: EventBus;
  state: StateStore;
  jobs: JobScheduler;
  invoker: Invoker;
  /** Absent where the runtime cannot see its topics (Dapr without KAFKA_BROKERS). */
  topics?: TopicBrowser;
}
