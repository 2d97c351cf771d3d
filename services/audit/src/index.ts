import { Topics } from '@taskstream/contracts';
import {
  createPool,
  createSecurityAudit,
  type Pool,
  poolBounds,
  projectionReplayRoutes,
  type Service,
  type ServiceDeps,
  type Subscription,
} from '@taskstream/platform';
import { createRecorder, entryOf } from './ingest.js';
import { createPartitionManager, retentionCutoff } from './partitions.js';
import { auditReplay } from './replay.js';
import { auditRoutes } from './routes.js';
import { auditMigrations } from './schema.js';

export { canonicalJson, GENESIS_HASH, rowHash } from './chain.js';
export { createRecorder, entryOf } from './ingest.js';
export { createPartitionManager } from './partitions.js';
export { type AuditFilters, fetchPage, selectionOf } from './query.js';
export { auditReplay } from './replay.js';
export { auditMigrations } from './schema.js';

/** Name of the daily retention job; a one-off job named `audit-retention<anything>` runs it now. */
export const RETENTION_JOB = 'audit-retention';
export const RETENTION_SCHEDULE = '@daily';
/** How many months ahead of the current one get their partition before any row needs it. */
const MONTHS_AHEAD = 2;

/** The audit trail: one chained row per task event, query/export/verify routes, retention. */
export function createAuditService(deps: ServiceDeps): Service {
  const { pool, config, ports, logger, metrics, auth } = deps;
  const log = logger.child({ service: 'audit' });
  const partitions = createPartitionManager(pool, log);
  // The chain has one writer at a time; it gets a connection of its own so that request traffic
  // queueing on the shared pool (the embedded host serves every service from it) cannot starve it.
  const writerConnection = createPool(config.DATABASE_URL!, 1, poolBounds(config));
  let writerPool: Pool = writerConnection;
  const record = createRecorder(() => writerPool, partitions);
  const rowsWritten = metrics.counter('audit_events_total', 'Task events seen by the audit trail', [
    'result',
  ]);
  const ingestLag = metrics.histogram(
    'audit_ingest_lag_seconds',
    'From event time to its audit row',
    [],
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  );
  const dropped = metrics.counter('audit_partitions_dropped_total', 'Expired audit partitions dropped');

  const taskEvents: Subscription = {
    topic: Topics.taskEvents,
    consumer: 'audit',
    // No order among events: each is one row, chained in the order it is recorded. Started
    // together (in log order), a whole bus batch lands in one chain transaction.
    orderKey: (event) => event.id,
    concurrency: Number.POSITIVE_INFINITY,
    async handler(event) {
      const entry = entryOf(event);
      if (!entry) return 'DROP';
      const outcome = await record(entry);
      rowsWritten.inc({ result: outcome });
      if (outcome === 'inserted') ingestLag.observe(Math.max(0, Date.now() - Date.parse(entry.time)) / 1000);
      return 'SUCCESS';
    },
  };

  // Logins, registrations, password changes, admin and export actions (ADR 0015): same chain.
  const subscriptions: Subscription[] = [taskEvents, { ...taskEvents, topic: Topics.securityEvents }];

  /** The current month's partition and the next ones exist before any row needs them. */
  async function ensureAhead(now: Date) {
    for (let ahead = 0; ahead <= MONTHS_AHEAD; ahead++) {
      await partitions.ensure(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1)));
    }
  }

  /** Creates the coming months' partitions and drops the wholly expired ones. */
  async function maintain(now = new Date()) {
    await ensureAhead(now);
    const cutoff = retentionCutoff(now, config.AUDIT_RETENTION_DAYS);
    const gone = await partitions.dropExpired(cutoff);
    dropped.inc(gone.length);
    log.info({ cutoff: cutoff.toISOString(), dropped: gone }, 'audit retention ran');
  }

  ports.jobs.onTrigger(RETENTION_JOB, async () => {
    await maintain();
  });

  const audit = createSecurityAudit(ports.bus, '/taskstream/audit', log);
  const routes = auditRoutes({ pool, auth, logger: log, audit });
  routes.use(
    projectionReplayRoutes({
      path: '/api/audit-logs/replay',
      pool,
      auth,
      audit,
      projection: 'audit',
      topic: Topics.taskEvents,
      // The service's own recorder: the chain keeps one writer.
      apply: auditReplay(pool, record),
    }),
  );

  return {
    name: 'audit',
    routes,
    subscriptions,
    migrations: auditMigrations,
    async start() {
      await ensureAhead(new Date());
      // Scheduling again replaces the job: every replica may do this at start.
      await ports.jobs.schedule({ name: RETENTION_JOB, schedule: RETENTION_SCHEDULE });
    },
    async stop() {
      // The bus stops after the services: events it still hands over are written on the shared
      // pool, which outlives it; the own connection closes once its transaction is done.
      writerPool = pool;
      await writerConnection.end();
    },
  };
}
