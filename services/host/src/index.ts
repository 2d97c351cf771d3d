import { createAuditService } from '@taskstream/audit';
import { createFraudService } from '@taskstream/fraud';
import { createNotificationService } from '@taskstream/notification';
import { createPaymentsService } from '@taskstream/payments';
import {
  type RunningRuntime,
  type RuntimeOptions,
  type ServiceFactory,
  startRuntime,
} from '@taskstream/platform';
import { createRecurringService } from '@taskstream/recurring';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService, DEMO_USERS } from '@taskstream/task-api';

/** Every service of taskstream, as the embedded host runs them in one process. */
export const allServices: ServiceFactory[] = [
  createTaskApiService,
  (deps) => createNotificationService(deps),
  createRecurringService,
  createAuditService,
  createSyncService,
  createPaymentsService,
  createFraudService,
];

export function startEmbeddedHost(options: RuntimeOptions = {}): Promise<RunningRuntime> {
  return startRuntime(allServices, options);
}

/** The one line that tells a person where to go. */
export function readyMessage(runtime: RunningRuntime): string {
  const url = runtime.url.replace('127.0.0.1', 'localhost');
  // In production the demo accounts have random passwords, logged once when made.
  const demo =
    runtime.config.SEED_DEMO_USERS && runtime.config.NODE_ENV !== 'production'
      ? `; log in as ${DEMO_USERS[0]!.email} / ${DEMO_USERS[0]!.password}`
      : '';
  return `taskstream is ready at ${url}${demo}`;
}
