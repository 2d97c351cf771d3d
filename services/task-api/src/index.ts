import type { Task } from '@taskstream/contracts';
import { HttpError, type Service, type ServiceDeps } from '@taskstream/platform';
import { RecurrenceRuleError, validateRecurrenceForTask } from '@taskstream/recurrence';
import { Router } from 'express';
import { createAdmin } from './admin.js';
import { docsRoutes } from './docs.js';
import { scheduleHousekeeping } from './housekeeping.js';
import { taskRoutes } from './routes.js';
import { taskApiMigrations } from './schema.js';
import { authRoutes, createPasswordHasher, seedDemoUsers } from './users.js';
import { webRoutes } from './web.js';

export { IDEMPOTENCY_PRUNE_JOB } from './housekeeping.js';
export { taskApiMigrations } from './schema.js';
export { DEMO_USERS, seedDemoUsers } from './users.js';

/** A rule the recurring service could not follow is refused when the task is written (400 naming it). */
function checkRecurrence(task: Pick<Task, 'recurrence' | 'due_date' | 'time_zone' | 'occurrence'>) {
  try {
    validateRecurrenceForTask(task);
  } catch (err) {
    if (err instanceof RecurrenceRuleError) {
      throw new HttpError(400, 'validation_failed', `invalid body: recurrence.rule: ${err.reason}`, [
        { path: 'recurrence.rule', message: err.reason },
      ]);
    }
    throw err;
  }
}

/** REST for users and tasks; each mutation publishes its events in its transaction. */
export function createTaskApiService(deps: ServiceDeps): Service {
  const { pool, auth, config, ports, logger } = deps;

  const admin = createAdmin(deps);
  const routes = Router();
  // The task routes first: the busiest requests then try no other route's path on the way, nor
  // the static files (a file-system look-up per GET). No other router here serves their paths.
  routes.use(
    taskRoutes({
      pool,
      auth,
      appToken: config.APP_API_TOKEN,
      checkRecurrence: checkRecurrence,
      bus: ports.bus,
    }),
  );
  routes.use(admin.routes);
  const hasher = createPasswordHasher({
    concurrency: config.PASSWORD_HASH_CONCURRENCY,
    queue: config.PASSWORD_HASH_QUEUE,
  });
  const housekeeping = scheduleHousekeeping(deps);
  const accounts = authRoutes(deps, hasher);
  routes.use(accounts.router);
  routes.use(docsRoutes());
  routes.use(webRoutes());

  return {
    name: 'task-api',
    routes,
    migrations: taskApiMigrations,
    subscriptions: admin.subscriptions,
    async start() {
      const production = config.NODE_ENV === 'production';
      if (config.SEED_DEMO_USERS || production)
        await seedDemoUsers(pool, logger, hasher, {
          seed: config.SEED_DEMO_USERS === true,
          published: !production,
        });
      await admin.start();
      await housekeeping.start();
    },
    async stop() {
      await accounts.stop();
    },
  };
}
