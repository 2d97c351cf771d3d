import { Topics } from '@taskstream/contracts';
import type { Envelope, HandlerResult, Service, ServiceDeps } from '@taskstream/platform';
import { createEmailChannel } from './channels/email.js';
import { createInAppChannel } from './channels/in-app.js';
import { createPushChannel } from './channels/push.js';
import { createDispatcher } from './dispatcher.js';
import { nameOf, validated } from './events.js';
import { publishLeftoverOutcomes } from './outcomes.js';
import { createContactBook } from './preferences.js';
import { createReminderHandlers } from './reminders.js';
import { notificationRoutes } from './routes.js';
import { notificationMigrations } from './schema.js';

export { composeReminder, formatDue } from './compose.js';
export { DELIVERY_JOB_PREFIX, REMINDER_JOB_PREFIX, reminderJobName } from './dispatcher.js';
export { quietUntil } from './quiet-hours.js';
export { notificationMigrations } from './schema.js';
export type { ReminderState, TaskRecord } from './state.js';

export interface NotificationOptions {
  /** Waits between delivery attempts; default RETRY_DELAYS_MS (the same backoff the event bus uses). */
  retryDelaysMs?: number[];
  /** Per Web Push request (ms). */
  pushTimeoutMs?: number;
}

const CONSUMER = 'notification';

/**
 * Reminders → one named job each → email, Web Push and in-app delivery; plus the inbox,
 * preferences and push subscription REST API.
 */
export function createNotificationService(deps: ServiceDeps, options: NotificationOptions = {}): Service {
  const { config, pool, logger, ports, auth } = deps;
  const email = createEmailChannel({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM,
    logger,
    invoker: deps.ports.invoker,
  });
  const push = createPushChannel({
    pool,
    logger,
    subject: config.VAPID_SUBJECT,
    publicKey: config.VAPID_PUBLIC_KEY,
    privateKey: config.VAPID_PRIVATE_KEY,
    httpsOnly: config.NODE_ENV === 'production',
    timeoutMs: options.pushTimeoutMs,
  });
  const dispatcher = createDispatcher({
    deps,
    channels: { email, push, in_app: createInAppChannel() },
    retryDelaysMs: options.retryDelaysMs ?? config.RETRY_DELAYS_MS,
  });
  dispatcher.register();
  const reminders = createReminderHandlers(ports.state, dispatcher);

  async function onReminderTopic(event: Envelope): Promise<HandlerResult> {
    const name = nameOf(event);
    if (name === 'reminder.scheduled') await reminders.onScheduled(validated(name, event));
    else if (name === 'reminder.cancelled') await reminders.onCancelled(validated(name, event));
    else return 'DROP'; // our own reminder.sent / reminder.failed
    return 'SUCCESS';
  }

  async function onTaskTopic(event: Envelope): Promise<HandlerResult> {
    const name = nameOf(event);
    if (
      name === 'task.created' ||
      name === 'task.updated' ||
      name === 'task.completed' ||
      name === 'task.reopened' ||
      name === 'task.deleted'
    ) {
      await reminders.onTaskEvent(validated(name, event));
      return 'SUCCESS';
    }
    return 'DROP';
  }

  return {
    name: 'notification',
    migrations: notificationMigrations,
    routes: notificationRoutes({
      pool,
      auth,
      logger,
      push,
      mailMode: email.mode,
      rememberContact: createContactBook(pool),
    }),
    subscriptions: [
      { topic: Topics.reminders, consumer: CONSUMER, handler: onReminderTopic },
      { topic: Topics.taskEvents, consumer: CONSUMER, handler: onTaskTopic },
    ],
    async start() {
      // Generated (and kept) on the first start when not configured.
      await push.vapidKeys();
      await publishLeftoverOutcomes(pool, ports.bus);
      logger.info({ email: email.mode }, 'notification service started');
    },
    async stop() {
      email.close();
    },
  };
}
