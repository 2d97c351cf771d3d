import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { eventName, parseEvent, SyncEventsQuery, TopicEvents, Topics } from '@taskstream/contracts';
import {
  createSecurityAudit,
  type Pool,
  parse,
  principalOf,
  projectionReplayRoutes,
  type Service,
  type ServiceDeps,
  type ServiceFactory,
} from '@taskstream/platform';
import { Router } from 'express';
import pg from 'pg';
import { createEventStore, pruneInbox, readHistory, syncMigrations } from './history.js';
import { createHub, type Hub, type HubStats } from './hub.js';
import { syncReplay } from './projection.js';
import { replayPlan, type SyncedEvent } from './protocol.js';
import { createUpgradeListener, WS_PATH } from './upgrade.js';

export { storeEvents, syncMigrations } from './history.js';
export type { HubStats } from './hub.js';
export { syncReplay } from './projection.js';
export * from './protocol.js';

export { WS_PATH } from './upgrade.js';

/** Event types that reach users live; other task-updates types are acknowledged and ignored. */
const SYNCED_TYPES = new Set<string>(TopicEvents[Topics.taskUpdates]);

export interface SyncOptions {
  replicaId?: string;
  maxBufferedBytes?: number;
  heartbeatMs?: number;
  slowCloseGraceMs?: number;
  historySize?: number;
  maxConnectionsPerUser?: number;
  allowedOrigins?: string[];
}

export interface SyncService extends Service {
  name: 'sync';
  consumer: string;
  stats(): HubStats;
}

/** The sync service with settings from the environment (what the embedded host and main.ts run). */
export function createSyncService(deps: ServiceDeps): SyncService {
  return buildSyncService(deps, {});
}

/** A factory with explicit settings (tests, several replicas in one process, the bench). */
export function syncService(options: SyncOptions): ServiceFactory {
  return (deps) => buildSyncService(deps, options);
}

/** Events per history statement, and statements at once (ADR 0007). */
const STORE_BATCH = 64;
const STORE_PARALLEL = 4;

function buildSyncService(deps: ServiceDeps, options: SyncOptions): SyncService {
  const { pool, logger, metrics, auth, config } = deps;
  const env = config;
  const replicaId = options.replicaId ?? env.SYNC_REPLICA_ID ?? `${hostname()}-${process.pid}`;
  const consumer = `sync-${replicaId}`;
  const historySize = options.historySize ?? config.SYNC_HISTORY_SIZE;
  const log = logger.child({ service: 'sync', consumer });
  const latency = metrics.histogram(
    'sync_store_duration_seconds',
    'Storing one event in the sync history (waiting for its batch included)',
    [],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
  );

  // Producer's event time → handed to the sockets: the delivery lag of this replica.
  const lag = metrics.histogram(
    'sync_event_lag_seconds',
    'Event time to fan-out on this replica',
    [],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );

  // A bus that acknowledges in this database (the embedded one): the history is written without
  // waiting for its own WAL flush. The bus commits the consumer checkpoint synchronously after
  // the handlers, which flushes these writes first; after a database crash the events past the
  // checkpoint are redelivered and, handled in log order again, get the same sequences (ADR
  // 0007). A bus that acknowledges elsewhere (to the sidecar) gets durably committed writes.
  const asyncCommit = deps.ports.bus.acknowledgesInDatabase;
  const storePool = asyncCommit
    ? new pg.Pool({
        connectionString: config.DATABASE_URL,
        max: STORE_PARALLEL,
        options: '-c synchronous_commit=off',
        idleTimeoutMillis: 30000,
      })
    : pool;
  storePool.on('error', () => undefined);
  // After stop() the handlers still running until the bus stops use the shared pool.
  let storeTarget: Pool = storePool;
  const store = createEventStore(() => storeTarget, historySize, {
    maxBatch: STORE_BATCH,
    parallel: STORE_PARALLEL,
  });

  const hub: Hub = createHub({
    pool,
    logger: log,
    metrics,
    replayPageSize: 200,
    maxBufferedBytes: options.maxBufferedBytes ?? env.SYNC_MAX_BUFFERED_BYTES,
    heartbeatMs: options.heartbeatMs ?? env.SYNC_HEARTBEAT_MS,
    slowCloseGraceMs: options.slowCloseGraceMs ?? env.SYNC_SLOW_CLOSE_GRACE_MS,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? env.SYNC_MAX_CONNECTIONS_PER_USER,
  });

  const routes = Router();
  routes.get('/api/sync/events', auth.requireUser, async (req, res) => {
    const { userId } = principalOf(req);
    const query = parse(SyncEventsQuery, req.query, 'query');
    const page = await readHistory(pool, userId, query.since, query.limit);
    const plan = replayPlan(query.since, page.latest, page.events[0]?.sequence);
    res.json({
      events:
        plan === 'replay'
          ? page.events.map(({ sequence, event }) => ({ type: 'event', sequence, event }))
          : [],
      resync: plan === 'resync',
      latest: page.latest,
    });
  });

  routes.use(
    projectionReplayRoutes({
      path: '/api/sync/replay',
      pool,
      auth,
      audit: createSecurityAudit(deps.ports.bus, '/taskstream/sync', log),
      projection: 'sync',
      topic: Topics.taskUpdates,
      apply: syncReplay(pool, historySize),
    }),
  );

  const upgrades = createUpgradeListener({
    auth,
    hub,
    logger: log,
    metrics,
    allowedOrigins: options.allowedOrigins ?? env.SYNC_ALLOWED_ORIGINS,
  });
  let server: Server | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;

  return {
    name: 'sync',
    consumer,
    routes,
    migrations: syncMigrations,
    subscriptions: [
      {
        topic: Topics.taskUpdates,
        consumer,
        // Enough users at once to fill every store statement that may run.
        concurrency: STORE_BATCH * STORE_PARALLEL,
        async handler(event) {
          const name = eventName(event.type);
          if (!name || !SYNCED_TYPES.has(name)) return 'DROP';
          // A broken event throws: retried, then dead-lettered with the reason. Stored as sent.
          parseEvent(name, event);
          const synced = event as unknown as SyncedEvent;
          const end = latency.startTimer();
          const stored = await store(synced);
          end();
          if (stored) hub.publish(synced.data.user_id, stored.sequence, synced);
          const age = (Date.now() - Date.parse(synced.time)) / 1000;
          if (age >= 0) lag.observe(age);
          return 'SUCCESS';
        },
      },
    ],
    async start(httpServer) {
      server = httpServer;
      server.on('upgrade', upgrades.listener);
      // Inbox ids are kept a day longer than the event log keeps events (nothing older is redelivered).
      const keepDays = config.EVENT_LOG_RETENTION_DAYS + 1;
      pruneTimer = setInterval(() => {
        pruneInbox(pool, keepDays).catch((err) => log.warn({ err }, 'pruning the sync inbox failed'));
      }, env.SYNC_INBOX_PRUNE_MS);
      pruneTimer.unref();
      log.info({ path: WS_PATH, history_size: historySize }, 'sync listening for WebSocket clients');
    },
    async stop() {
      clearInterval(pruneTimer);
      server?.off('upgrade', upgrades.listener);
      await hub.stop();
      upgrades.close();
      if (storePool !== pool) {
        storeTarget = pool;
        await storePool.end();
      }
    },
    stats: () => hub.stats(),
  };
}
