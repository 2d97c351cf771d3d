import type { Server } from 'node:http';
import type { Pool } from '../db.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { createEventLogTopicBrowser } from '../ops/topics.js';
import type { Ports } from '../ports.js';
import { createEmbeddedEventBus } from './event-bus.js';
import { createEmbeddedInvoker } from './invoker.js';
import { createEmbeddedJobScheduler } from './job-scheduler.js';
import { createEmbeddedStateStore } from './state-store.js';

export { embeddedMigrations } from './schema.js';
export {
  createEmbeddedEventBus,
  createEmbeddedInvoker,
  createEmbeddedJobScheduler,
  createEmbeddedStateStore,
};

export interface EmbeddedPortsOptions {
  pool: Pool;
  connectionString: string;
  logger: Logger;
  metrics?: Metrics;
  retryDelaysMs: number[];
  keyConcurrency?: number;
  /** The host's HTTP server, which the Invoker calls in process. */
  server: () => Server | undefined;
  appToken?: string;
  jobPollIntervalMs?: number;
}

export function createEmbeddedPorts(
  options: EmbeddedPortsOptions,
): Ports & { bus: ReturnType<typeof createEmbeddedEventBus> } {
  return {
    bus: createEmbeddedEventBus(options),
    state: createEmbeddedStateStore(options.pool),
    jobs: createEmbeddedJobScheduler({
      pool: options.pool,
      logger: options.logger,
      pollIntervalMs: options.jobPollIntervalMs,
    }),
    invoker: createEmbeddedInvoker({
      server: options.server,
      appToken: options.appToken,
    }),
    topics: createEventLogTopicBrowser(options.pool),
  };
}
