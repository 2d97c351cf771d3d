import { parseEvent, Topics } from '@taskstream/contracts';
import type { Envelope, HandlerResult, Service, ServiceDeps } from '@taskstream/platform';
import { createEmailChannel } from './channels/email.js';
import { createInAppChannel } from './channels/in-app.js';
import { createPushChannel } from './channels/push.js';
import { DEFAULT_PUSH_HOSTS, type PushResolver } from './channels/push-target.js';
import { createDispatcher } from './dispatcher.js';
import { nameOf } from './events.js';
import { publishLeftoverOutcomes } from './outcomes.js';
import { createContactBook } from './preferences.js';
import { createReminderHandlers } from './reminders.js';
import { notificationRoutes } from './routes.js';
import { notificationMigrations } from './schema.js';

export { DEFAULT_PUSH_HOSTS, type PushResolver } from './channels/push-target.js';
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
  /** DNS for push endpoint hosts (tests answer names themselves); default the system resolver. */
  pushResolver?: PushResolver;
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
    policy: {
      // `*` lifts the allowlist; the addresses are checked all the same.
      allowedHosts:
        config.PUSH_ALLOWED_HOSTS?.includes('*') === true
          ? undefined
          : (config.PUSH_ALLOWED_HOSTS ??
            (config.NODE_ENV === 'production' ? DEFAULT_PUSH_HOSTS : undefined)),
      allowLoopback: config.PUSH_ALLOW_LOOPBACK,
    },
    maxSubscriptionsPerUser: config.PUSH_MAX_SUBSCRIPTIONS_PER_USER,
    resolve: options.pushResolver,
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
    if (name === 'reminder.scheduled') await reminders.onScheduled(parseEvent(name, event));
    else if (name === 'reminder.cancelled') await reminders.onCancelled(parseEvent(name, event));
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
      await reminders.onTaskEvent(parseEvent(name, event));
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
