import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { AppIds, deadLetterTopic, Topics } from '@taskstream/contracts';
import express, { type Express, type Router } from 'express';
import type { Logger } from 'pino';
import { requireAppToken } from '../auth.js';
import type { Config } from '../config.js';
import type { Pool } from '../db.js';
import type { Metrics } from '../metrics.js';
import type { Ports } from '../ports.js';
import { createDaprEventBus } from './event-bus.js';
import { createDaprInvoker } from './invoker.js';
import { createDaprJobScheduler, type JobFailurePolicy } from './job-scheduler.js';
import { createKafkaLagReader, type KafkaConnectionOptions, type KafkaLagReader } from './kafka-lag.js';
import { createKafkaTopicBrowser } from './kafka-topics.js';
import { createSidecarClient } from './sidecar-client.js';
import { createDaprStateStore } from './state-store.js';

export { outboxMigrations } from './outbox.js';
export { SidecarError } from './sidecar-client.js';
export type { JobFailurePolicy };
export {
  createDaprEventBus,
  createDaprInvoker,
  createDaprJobScheduler,
  createDaprStateStore,
  createKafkaLagReader,
  createKafkaTopicBrowser,
  createSidecarClient,
};

/** The app ids whose consumer groups the `pubsub` component names `{appID}` (initialOffset oldest). */
const APP_GROUPS: readonly string[] = AppIds;
/** Every topic an app consumes, with its dead-letter topic (task-api consumes those). */
const CONSUMED_TOPICS = Object.values(Topics).flatMap((topic) => [topic, deadLetterTopic(topic)]);

export interface DaprPortsOptions {
  config: Pick<
    Config,
    | 'DAPR_HOST'
    | 'DAPR_HTTP_PORT'
    | 'DAPR_API_TOKEN'
    | 'APP_API_TOKEN'
    | 'PUBSUB_NAME'
    | 'STATESTORE_NAME'
    | 'RETRY_DELAYS_MS'
    | 'BODY_LIMIT_BYTES'
    | 'DAPR_BULK_SUBSCRIBE'
    | 'DAPR_BULK_SUBSCRIBE_MAX_MESSAGES'
    | 'DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS'
  > &
    Partial<
      Pick<
        Config,
        | 'APP_ID'
        | 'KAFKA_BROKERS'
        | 'KAFKA_TLS'
        | 'KAFKA_SASL_MECHANISM'
        | 'KAFKA_SASL_USERNAME'
        | 'KAFKA_SASL_PASSWORD'
      >
    >;
  /** The sidecar's app id: its consumer group (default: the config's APP_ID). */
  appId?: string;
  /** The service's express app: the sidecar callback routes are mounted on it. */
  app: Express | Router;
  logger: Logger;
  /** The process's registry: the bus counts deliveries on it. */
  metrics?: Metrics;
  /**
   * The services' database, where `publishInTransaction` writes the outbox that the bus relays
   * (rows of this app id). Without it the bus cannot publish in a transaction.
   */
  database?: { pool: Pool; connectionString: string };
  jobFailurePolicy?: JobFailurePolicy;
}

/**
 * The four ports on a Dapr sidecar. Mounts the callbacks daprd makes (`/dapr/*`, `/events/*`,
 * `/job/*`, each requiring the sidecar's APP_API_TOKEN, which the configuration makes mandatory under Dapr) on `app`: call it before the app's
 * not-found handler, and subscribe before the sidecar starts (daprd reads subscriptions once).
 */
export function createDaprPorts(options: DaprPortsOptions): Ports {
  const { config, logger } = options;
  const sidecar = createSidecarClient(config);
  const dapr = new DaprClient({
    daprHost: config.DAPR_HOST,
    daprPort: String(config.DAPR_HTTP_PORT),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken: config.DAPR_API_TOKEN,
    logger: { level: LogLevel.Warn },
  });

  const callbacks = express.Router();
  callbacks.use(['/dapr', '/events', '/job'], requireAppToken(config.APP_API_TOKEN));
  // Parses only when the app has not already (body-parser skips a parsed body; the app's own
  // parser leaves /events to this one); the sidecar sends CloudEvents as
  // application/cloudevents+json, job data and bulk deliveries as application/json. A bulk delivery carries up to
  // DAPR_BULK_SUBSCRIBE_MAX_MESSAGES events of up to a request body each: a smaller limit
  // would refuse a batch of large events on every redelivery and stall its partition.
  const parse = (limit: number) =>
    express.json({ type: ['application/json', 'application/*+json'], strict: false, limit });
  const bulk = config.DAPR_BULK_SUBSCRIBE
    ? {
        maxMessages: config.DAPR_BULK_SUBSCRIBE_MAX_MESSAGES,
        maxAwaitMs: config.DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS,
      }
    : undefined;
  callbacks.use('/events', parse(config.BODY_LIMIT_BYTES * (bulk?.maxMessages ?? 1)));
  callbacks.use('/job', parse(config.BODY_LIMIT_BYTES));
  options.app.use(callbacks);

  return {
    bus: createDaprEventBus({
      dapr,
      pubsubName: config.PUBSUB_NAME,
      router: callbacks,
      logger: logger.child({ port: 'bus' }),
      retryDelaysMs: config.RETRY_DELAYS_MS,
      bulkSubscribe: bulk,
      metrics: options.metrics,
      lagReader: kafkaLagReader(config, options.appId ?? config.APP_ID),
      lagTopics: CONSUMED_TOPICS,
      consumerGroup: options.appId ?? config.APP_ID,
      outbox: options.database && {
        ...options.database,
        app: options.appId ?? config.APP_ID ?? 'taskstream',
      },
    }),
    state: createDaprStateStore({ sidecar, storeName: config.STATESTORE_NAME }),
    jobs: createDaprJobScheduler({
      sidecar,
      router: callbacks,
      logger: logger.child({ port: 'jobs' }),
      failurePolicy: options.jobFailurePolicy,
    }),
    invoker: createDaprInvoker(sidecar),
    topics: kafkaTopicBrowser(config, options.appId ?? config.APP_ID),
  };
}

/** What the brokers behind the sidecar hold, for the admin topic browser (KAFKA_BROKERS set). */
function kafkaTopicBrowser(config: DaprPortsOptions['config'], appId: string | undefined) {
  const connection = kafkaConnection(config, `${appId ?? 'taskstream'}-topics`);
  return connection && createKafkaTopicBrowser(connection);
}

/** The brokers, TLS and SASL of the pub/sub component, for a client of ours; none without KAFKA_BROKERS. */
function kafkaConnection(
  config: DaprPortsOptions['config'],
  clientId: string,
): KafkaConnectionOptions | undefined {
  if (!config.KAFKA_BROKERS) return undefined;
  // Both or neither: the config schema refuses half a SASL user.
  const { KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = config;
  return {
    brokers: config.KAFKA_BROKERS,
    clientId,
    tls: config.KAFKA_TLS,
    sasl:
      username && password
        ? { mechanism: config.KAFKA_SASL_MECHANISM ?? 'SCRAM-SHA-256', username, password }
        : undefined,
  };
}

/**
 * A Kafka admin client for consumer lag when KAFKA_BROKERS is set, with the pub/sub component's
 * TLS and SASL settings. Groups named after an app id (the `pubsub` component's) start at the
 * oldest event; any other group is a sync pod's broadcast group, which starts at the newest.
 */
function kafkaLagReader(
  config: DaprPortsOptions['config'],
  appId: string | undefined,
): KafkaLagReader | undefined {
  const connection = kafkaConnection(config, `${appId ?? 'taskstream'}-lag`);
  if (!connection) return undefined;
  const oldest = new Set([...APP_GROUPS, ...(appId ? [appId] : [])]);
  return createKafkaLagReader({ ...connection, startsAtOldest: (group) => oldest.has(group) });
}
