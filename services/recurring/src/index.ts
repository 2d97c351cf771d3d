import { eventType, Topics } from '@taskstream/contracts';
import type { Service, ServiceDeps } from '@taskstream/platform';
import { createCompletionHandler } from './completion.js';
import { recurrenceRoutes } from './routes.js';
import { recurringMigrations } from './schema.js';

export { completedTaskOf, nextTaskOf, occurrenceTaskId } from './completion.js';
export { recurringMigrations } from './schema.js';

/** Inbox rows older than this are pruned (redelivery after that is still harmless: ids are deterministic). */
const INBOX_RETENTION_DAYS = 30;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Recurring tasks: the rule preview for the UI, and the next occurrence when a task is completed. */
export function createRecurringService(deps: ServiceDeps): Service {
  const { pool, auth, ports, logger, metrics } = deps;
  const handle = createCompletionHandler({ pool, invoker: ports.invoker, logger, metrics });
  let pruner: NodeJS.Timeout | undefined;

  async function prune() {
    await pool
      .query(`DELETE FROM recurring_inbox WHERE processed_at < now() - make_interval(days => $1)`, [
        INBOX_RETENTION_DAYS,
      ])
      .catch((err) => logger.warn({ err }, 'pruning the recurring inbox failed'));
  }

  return {
    name: 'recurring',
    routes: recurrenceRoutes(auth),
    migrations: recurringMigrations,
    subscriptions: [
      {
        topic: Topics.taskEvents,
        consumer: 'recurring',
        handler: (event, ctx) => handle(event, ctx),
        // The only event it acts on: both buses pass the rest by without running the handler.
        types: [eventType('task.completed')],
        // Only one task's events need their order (each next occurrence has its own id): a
        // user's other tasks go on beside it, and a failing one holds back only itself.
        orderKey: (event) => (typeof event.subject === 'string' ? event.subject : undefined),
      },
    ],
    async start() {
      pruner = setInterval(prune, PRUNE_EVERY_MS);
      pruner.unref();
    },
    async stop() {
      if (pruner) clearInterval(pruner);
    },
  };
}
