import {
  DeadLetterQuery,
  DiscardDeadLetterBody,
  ReplayTopicQuery,
  TopicMessagesQuery,
  TopicParams,
  Topics,
} from '@taskstream/contracts';
import {
  adminStats,
  conflict,
  createSecurityAudit,
  DeadLetterStateError,
  discardDeadLetter,
  EVENT_LOG_RETENTION_JOB,
  EVENT_LOG_RETENTION_SCHEDULE,
  getDeadLetter,
  HttpError,
  InvalidCursorError,
  listDeadLetters,
  migrationStatus,
  notFound,
  parse,
  platformMigrations,
  principalOf,
  pruneEventLog,
  replayDeadLetter,
  replayTopic,
  type ServiceDeps,
  type Subscription,
  storeDeadLetter,
} from '@taskstream/platform';
import { Router } from 'express';
import { taskApiMigrations } from './schema.js';

/** The topics whose dead letters task-api collects under Dapr (every topic a service consumes). */
const CONSUMED_TOPICS = [Topics.taskEvents, Topics.reminders, Topics.taskUpdates, Topics.securityEvents];

/**
 * Operations: dead letters (list, replay, replay a topic, discard with a reason), throughput and
 * lag stats, and the daily event-log retention job. Under Dapr the dead letters arrive on
 * `<topic>.dlq` and are stored here; the embedded bus stores them itself.
 */
export function createAdmin(deps: ServiceDeps): {
  routes: Router;
  subscriptions: Subscription[];
  start(): Promise<void>;
} {
  const { pool, auth, ports, config, logger } = deps;
  const log = logger.child({ component: 'admin' });
  const routes = Router();
  const admin = [auth.requireUser, auth.requireAdmin];
  const audit = createSecurityAudit(ports.bus, '/taskstream/task-api', logger);

  routes.get('/api/admin/dlq', ...admin, async (req, res) => {
    const query = parse(DeadLetterQuery, req.query, 'query');
    try {
      res.json(await listDeadLetters(pool, query));
    } catch (err) {
      if (err instanceof InvalidCursorError)
        // Shaped as a query validation error (details name the field), as the other lists answer.
        throw new HttpError(400, 'validation_failed', `invalid query: cursor: ${err.message}`, [
          { path: 'cursor', message: err.message },
        ]);
      throw err;
    }
  });

  routes.post('/api/admin/dlq/replay', ...admin, async (req, res) => {
    const { topic } = parse(ReplayTopicQuery, req.query, 'query');
    const replayed = await replayTopic(pool, ports.bus, topic, principalOf(req).userId);
    req.log.info({ topic, replayed }, 'dead letters of a topic replayed');
    await audit(req, {
      action: 'admin.dlq_replayed',
      actor: principalOf(req).userId,
      subject: topic,
      payload: { topic, replayed },
    });
    res.status(202).json({ replayed });
  });

  routes.get('/api/admin/dlq/:id', ...admin, async (req, res) => {
    // Not a row number: no such dead letter either (as replay and discard answer).
    const letter = await getDeadLetter(pool, String(req.params.id));
    if (!letter) throw notFound('dead letter');
    res.json(letter);
  });

  routes.post('/api/admin/dlq/:id/replay', ...admin, async (req, res) => {
    const id = String(req.params.id);
    try {
      if (!(await replayDeadLetter(pool, ports.bus, id, principalOf(req).userId)))
        throw notFound('dead letter');
    } catch (err) {
      if (err instanceof DeadLetterStateError) throw conflict(err.message);
      throw err;
    }
    req.log.info({ dead_letter_id: id }, 'dead letter replayed');
    await audit(req, {
      action: 'admin.dlq_replayed',
      actor: principalOf(req).userId,
      subject: id,
      payload: { dead_letter_id: id },
    });
    res.status(202).end();
  });

  routes.post('/api/admin/dlq/:id/discard', ...admin, async (req, res) => {
    const { reason } = parse(DiscardDeadLetterBody, req.body, 'body');
    const id = String(req.params.id);
    if (!(await discardDeadLetter(pool, id, reason, principalOf(req).userId))) throw notFound('dead letter');
    req.log.info({ dead_letter_id: id, reason }, 'dead letter discarded');
    await audit(req, {
      action: 'admin.dlq_discarded',
      actor: principalOf(req).userId,
      subject: id,
      payload: { dead_letter_id: id, reason },
    });
    res.status(204).end();
  });

  // What this build knows it should have applied; other services' scopes list what they applied.
  const knownMigrations = {
    ...platformMigrations(config.TASKSTREAM_RUNTIME === 'embedded'),
    'task-api': taskApiMigrations,
  };
  routes.get('/api/admin/migrations', ...admin, async (_req, res) => {
    res.json({ scopes: await migrationStatus(pool, knownMigrations) });
  });

  // The topic browser (ADR 0019): what is on the bus, read through the runtime's TopicBrowser port.
  const topicBrowser = () => {
    if (!ports.topics)
      throw new HttpError(503, 'unavailable', 'the topic browser needs KAFKA_BROKERS under Dapr');
    return ports.topics;
  };
  routes.get('/api/admin/topics', ...admin, async (_req, res) => {
    res.json({ topics: await topicBrowser().topics() });
  });
  routes.get('/api/admin/topics/:topic/messages', ...admin, async (req, res) => {
    const { topic } = parse(TopicParams, req.params, 'params');
    const query = parse(TopicMessagesQuery, req.query, 'query');
    const page = await topicBrowser().read(topic, {
      partition: query.partition,
      from: query.from,
      since: query.since === undefined ? undefined : new Date(query.since),
      key: query.key,
      limit: query.limit,
    });
    if (!page) throw notFound('topic or partition');
    res.json({ topic, partition: query.partition, ...page });
  });

  routes.get('/api/admin/stats', ...admin, async (_req, res) => {
    res.json(await adminStats(pool, ports.bus));
  });

  // A bus that does not record its dead letters itself only publishes them: record them here.
  const subscriptions: Subscription[] = !ports.bus.recordsDeadLetters
    ? CONSUMED_TOPICS.map((topic) => ({
        topic: `${topic}.dlq`,
        consumer: 'task-api-dlq',
        // Its own dead letters would go to `<topic>.dlq.dlq`; nothing consumes that, so keep retrying here.
        deadLetterTopic: `${topic}.dlq.dlq`,
        // Dead letters are rare and a second to record them is nothing: no need to wake often.
        bulkMaxAwaitMs: 1000,
        async handler(event) {
          await storeDeadLetter(pool, `${topic}.dlq`, event);
          return 'SUCCESS' as const;
        },
      }))
    : [];

  ports.jobs.onTrigger(EVENT_LOG_RETENTION_JOB, async () => {
    const removed = await pruneEventLog(pool, config.EVENT_LOG_RETENTION_DAYS);
    log.info({ retention_days: config.EVENT_LOG_RETENTION_DAYS, removed }, 'event log retention ran');
  });

  return {
    routes,
    subscriptions,
    async start() {
      // Scheduling again replaces the job: every replica may do this at start.
      await ports.jobs.schedule({ name: EVENT_LOG_RETENTION_JOB, schedule: EVENT_LOG_RETENTION_SCHEDULE });
    },
  };
}
