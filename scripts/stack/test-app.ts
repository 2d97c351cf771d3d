/**
 * An app for e2e tests of the `dapr` adapters: the services' HTTP bootstrap with `createDaprPorts`
 * and its own daprd from the real stack. `configure` runs before the sidecar starts, so
 * subscriptions made there are the ones daprd reads.
 */
import type { Server } from 'node:http';
import {
  createDaprPorts,
  createHttpApp,
  createMetrics,
  type JobFailurePolicy,
  type Ports,
} from '@taskstream/platform';
import type { Express } from 'express';
import { pino } from 'pino';
import { freePort, readStackEnv, type Sidecar, startSidecar } from './sidecar.js';

export interface DaprTestApp {
  ports: Ports;
  appPort: number;
  sidecar: Sidecar;
  close(): Promise<void>;
}

export async function startDaprTestApp(options: {
  appId: string;
  configure?: (ports: Ports, app: Express) => void;
  retryDelaysMs?: number[];
  jobFailurePolicy?: JobFailurePolicy;
  /** Bulk subscriptions (DAPR_BULK_SUBSCRIBE); one event per request by default, as the services. */
  bulkSubscribe?: boolean;
}): Promise<DaprTestApp> {
  const env = readStackEnv();
  const [appPort, httpPort] = [await freePort(), await freePort()];
  const logger = pino({ name: options.appId, level: process.env.LOG_LEVEL ?? 'warn' });
  const app = createHttpApp({ logger, metrics: createMetrics(), bodyLimitBytes: 1024 * 1024 });
  const ports = createDaprPorts({
    app,
    appId: options.appId,
    logger,
    jobFailurePolicy: options.jobFailurePolicy,
    config: {
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: httpPort,
      DAPR_API_TOKEN: env.DAPR_API_TOKEN,
      APP_API_TOKEN: env.APP_API_TOKEN,
      PUBSUB_NAME: 'pubsub',
      STATESTORE_NAME: 'statestore',
      RETRY_DELAYS_MS: options.retryDelaysMs ?? [1000, 5000, 25000],
      BODY_LIMIT_BYTES: 1024 * 1024,
      DAPR_BULK_SUBSCRIBE: options.bulkSubscribe ?? false,
      DAPR_BULK_SUBSCRIBE_MAX_MESSAGES: 100,
      DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS: 10,
      // The bus reads consumer lag from the stack's broker, as the stack's task-api does.
      KAFKA_BROKERS: env.KAFKA_BROKERS.split(','),
    },
  });
  options.configure?.(ports, app);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(appPort, '127.0.0.1', () => resolve(s));
  });
  await Promise.all([ports.bus.start(), ports.jobs.start()]);
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar({ appId: options.appId, appPort, httpPort, env });
  } catch (err) {
    server.close();
    throw err;
  }
  return {
    ports,
    appPort,
    sidecar,
    async close() {
      // The sidecar first, so it stops delivering before the app goes away.
      await sidecar.close();
      await Promise.all([ports.bus.stop(), ports.jobs.stop()]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `check` until it returns a value. */
export function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}
