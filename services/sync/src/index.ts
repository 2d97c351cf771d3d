import { hostname } from 'node:os';
import { eventName, parseEvent, SyncEventsQuery, TopicEvents, Topics } from '@taskstream/contracts';
import {
  createLiveStream,
  createSecurityAudit,
  type LiveStreamStats,
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
import { syncReplay } from './projection.js';
import { matchesFilter, parseSyncFilter, replayPlan, type SyncedEvent, type SyncFilter } from './protocol.js';

export { storeEvents, syncMigrations } from './history.js';
export { syncReplay } from './projection.js';
export * from './protocol.js';

/** Where the task stream is served: WebSocket upgrades, and Server-Sent Events for clients behind proxies that break WebSockets. */
export const WS_PATH = '/ws/tasks';
export const SSE_PATH = '/api/sync/stream';

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
  /** This replica's task-stream connections (all of them, or one user's). */
  stats(userId?: string): LiveStreamStats;
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

  // Each user follows their own stream (the history is kept per user); filters narrow it.
  const stream = createLiveStream<SyncedEvent, SyncFilter>({
    name: 'tasks',
    wsPath: WS_PATH,
    ssePath: SSE_PATH,
    read: (userId, since, limit) => readHistory(pool, userId, since, limit),
    parseFilter: parseSyncFilter,
    matches: matchesFilter,
    authorize: (principal) => principal.userId,
    pool,
    auth,
    logger: log,
    instruments: {
      sent: metrics.counter('sync_messages_sent_total', 'Frames sent to live clients', ['type']),
      disconnects: metrics.counter('sync_disconnects_total', 'Live connections ended, by reason', ['reason']),
      connections: (read) =>
        metrics.gauge('sync_connections', 'Open live connections (WebSocket and SSE)', [], (g) =>
          g.set(read()),
        ),
    },
    maxBufferedBytes: options.maxBufferedBytes ?? env.SYNC_MAX_BUFFERED_BYTES,
    heartbeatMs: options.heartbeatMs ?? env.SYNC_HEARTBEAT_MS,
    slowCloseGraceMs: options.slowCloseGraceMs ?? env.SYNC_SLOW_CLOSE_GRACE_MS,
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? env.SYNC_MAX_CONNECTIONS_PER_USER,
    allowedOrigins: options.allowedOrigins ?? env.SYNC_ALLOWED_ORIGINS,
  });

  const routes = Router();
  routes.use(stream.routes);
  // What is open on this replica: admins see every connection, a user only their own.
  routes.get('/api/sync/connections', auth.requireUser, (req, res) => {
    const principal = principalOf(req);
    const all = principal.role === 'admin';
    const { stream: name, ...counts } = stream.stats(all ? undefined : principal.userId);
    res.setHeader('cache-control', 'no-store');
    res.json({
      replica: replicaId,
      scope: all ? 'all' : 'own',
      streams: [
        {
          stream: name,
          connections: counts.connections,
          transports: counts.transports,
          ...(all ? { users: counts.users, buffered_bytes: counts.bufferedBytes } : {}),
        },
      ],
    });
  });
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
          if (stored) stream.publish(synced.data.user_id, stored.sequence, synced);
          const age = (Date.now() - Date.parse(synced.time)) / 1000;
          if (age >= 0) lag.observe(age);
          return 'SUCCESS';
        },
      },
    ],
    async start(httpServer) {
      stream.listen(httpServer);
      // Inbox ids are kept a day longer than the event log keeps events (nothing older is redelivered).
      const keepDays = config.EVENT_LOG_RETENTION_DAYS + 1;
      pruneTimer = setInterval(() => {
        pruneInbox(pool, keepDays).catch((err) => log.warn({ err }, 'pruning the sync inbox failed'));
      }, env.SYNC_INBOX_PRUNE_MS);
      pruneTimer.unref();
      log.info(
        { path: WS_PATH, sse_path: SSE_PATH, history_size: historySize },
        'sync listening for WebSocket and SSE clients',
      );
    },
    async stop() {
      clearInterval(pruneTimer);
      await stream.stop();
      if (storePool !== pool) {
        storeTarget = pool;
        await storePool.end();
      }
    },
    stats: (userId) => stream.stats(userId),
  };
}
