import { pino } from 'pino';
import { readTopic } from '../../../../scripts/stack/kafka.js';
import { freePort, readStackEnv, type Sidecar, startSidecar } from '../../../../scripts/stack/sidecar.js';
import { createPool, type Pool, runMigrations } from '../db.js';
import { createHttpApp, finishApp, listen, type RunningServer } from '../http.js';
import { createMetrics } from '../metrics.js';
import { type ContractInstance, describePortContract } from '../ports.contract.js';
import { createDaprPorts, outboxMigrations } from './index.js';

// The port contract against the Dapr adapters on the real local stack (`bash scripts/stack/stack.sh
// up`): daprd 1.18 + Kafka + state.postgresql + the Dapr scheduler. Every instance is the same app
// id with a sidecar of its own, one at a time, so they share a consumer group and a job namespace
// as replicas of one service (and restarts of it) do.
const APP_ID = 'e2e-contract';
const RETRY_DELAYS_MS = [500, 1000, 2000];
/** `num.partitions` of the stack's broker (scripts/stack/stack.sh): auto-created topics get 4. */
const PARTITIONS = 4;

let database: Pool | undefined;
/** The stack's PostgreSQL, where the bus's outbox lives; one pool for every instance. */
async function stackDatabase(url: string): Promise<Pool> {
  if (!database) {
    database = createPool(url, 8);
    await runMigrations(database, 'outbox', outboxMigrations);
  }
  return database;
}
afterAll(async () => {
  await database?.end();
});

async function makeDapr(): Promise<ContractInstance> {
  const env = readStackEnv();
  const pool = await stackDatabase(env.DATABASE_URL);
  const [appPort, httpPort] = [await freePort(), await freePort()];
  const logger = pino({ name: APP_ID, level: process.env.LOG_LEVEL ?? 'error' });
  const app = createHttpApp({ logger, metrics: createMetrics(), bodyLimitBytes: 1024 * 1024 });
  const ports = createDaprPorts({
    app,
    logger,
    // Short for the test; the adapter's default retries every 10 s for 5 minutes.
    jobFailurePolicy: { constant: { interval: '1s', maxRetries: 5 } },
    database: { pool, connectionString: env.DATABASE_URL },
    config: {
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: httpPort,
      DAPR_API_TOKEN: env.DAPR_API_TOKEN,
      APP_API_TOKEN: env.APP_API_TOKEN,
      PUBSUB_NAME: 'pubsub',
      STATESTORE_NAME: 'statestore',
      RETRY_DELAYS_MS,
      BODY_LIMIT_BYTES: 1024 * 1024,
      DAPR_BULK_SUBSCRIBE: false,
      DAPR_BULK_SUBSCRIBE_MAX_MESSAGES: 100,
      DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS: 10,
    },
  });
  let server: RunningServer | undefined;
  let sidecar: Sidecar | undefined;
  return {
    ports,
    pool,
    app,
    appId: APP_ID,
    retryDelaysMs: RETRY_DELAYS_MS,
    async start() {
      finishApp(app);
      server = await listen(app, appPort, '127.0.0.1', 5000);
      await Promise.all([ports.bus.start(), ports.jobs.start()]);
      // Last: daprd reads the subscriptions once, when it starts.
      sidecar = await startSidecar({ appId: APP_ID, appPort, httpPort, env });
    },
    async cleanup() {
      // The sidecar first, so it stops delivering before the app goes away.
      await sidecar?.close();
      await Promise.all([ports.bus.stop(), ports.jobs.stop()]);
      server?.server.closeAllConnections();
      await server?.close();
    },
  };
}

/** sarama's default HashPartitioner, which daprd's Kafka producer uses: FNV-1a 32 of the key, as int32, mod n, abs. */
function saramaPartition(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return Math.abs((hash | 0) % partitions);
}

describePortContract('dapr (daprd + Kafka + PostgreSQL + scheduler)', makeDapr, {
  partitionOf: (_topic, key) => saramaPartition(key, PARTITIONS),
  // The partitions the contract assumed are the ones Kafka has (the same record keys too).
  afterSuite: async (published) => {
    const blocking = published.filter((p) => p.topic.endsWith('-blocking'));
    const topic = blocking[0]!.topic;
    const records = await readTopic(topic, { max: blocking.length, timeoutMs: 20_000 });
    expect(records).toHaveLength(blocking.length);
    for (const record of records) expect(record.partition).toBe(saramaPartition(record.key, PARTITIONS));
  },
});
