import { z } from 'zod';
import { Currency, FailureReason, FraudFactors, MinorUnits, Transaction } from './payments.js';
import { Channel, Task } from './tasks.js';

export const TYPE_PREFIX = 'com.taskstream.';
export const SCHEMA_BASE = 'https://taskstream.dev/schemas/events';

export const Topics = {
  taskEvents: 'task-events',
  reminders: 'reminders',
  taskUpdates: 'task-updates',
  taskCommands: 'task-commands',
  securityEvents: 'security-events',
  paymentEvents: 'payment-events',
  withdrawalEvents: 'withdrawal-events',
} as const;
export type Topic = (typeof Topics)[keyof typeof Topics];
export const deadLetterTopic = (topic: string) => `${topic}.dlq`;

/** The `data` every event carries, whatever its payload. */
const eventData = <P extends z.ZodTypeAny>(payload: P) =>
  z.object({
    user_id: z.uuid(),
    task_id: z.uuid(),
    sequence: z.number().int().positive().describe('per-user, gap-free, assigned in the writing transaction'),
    task_version: z.number().int().nonnegative(),
    idempotency_key: z.string().min(1),
    payload,
    changed_fields: z.array(z.string()),
  });

/** The CloudEvents attributes of every event of ours, `subject` and `data` aside. */
const attributes = <T extends string>(type: T) => ({
  specversion: z.literal('1.0'),
  id: z.uuid().describe('UUIDv7'),
  type: z.literal(`${TYPE_PREFIX}${type}` as `com.taskstream.${T}`),
  source: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
});
const delivery = {
  datacontenttype: z.literal('application/json'),
  dataschema: z.url(),
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
};

const envelope = <T extends string, P extends z.ZodTypeAny>(type: T, payload: P) =>
  z.object({
    ...attributes(type),
    subject: z.uuid().describe('the task id'),
    ...delivery,
    data: eventData(payload),
  });

/** Field-level before/after for changed fields (audit shows both). */
const Change = z.object({ before: z.unknown(), after: z.unknown() });

export const TaskPayload = z.object({ task: Task, changes: z.record(z.string(), Change).optional() });

export const ReminderPayload = z.object({
  reminder_id: z.string().min(1).describe('stable per task and reminder slot'),
  fire_at: z.iso.datetime({ offset: true }),
  channels: z.array(Channel),
  title: z.string(),
  due_date: z.iso.datetime({ offset: true }).nullable(),
  time_zone: z.string(),
});
export const ReminderCancelledPayload = z.object({ reminder_id: z.string().min(1), reason: z.string() });
export const ReminderOutcomePayload = z.object({
  reminder_id: z.string().min(1),
  channel: Channel,
  attempt: z.number().int().positive(),
  error: z.string().optional(),
});
export const NotificationPayload = z.object({
  notification_id: z.string().min(1),
  title: z.string(),
  body: z.string(),
  created_at: z.iso.datetime({ offset: true }),
});

/**
 * Security-relevant actions (ADR 0015), for the audit trail: who (`actor`, null when nobody was
 * signed in and the account is unknown), from where (`client_address` as the server took it,
 * honouring TRUST_PROXY) and with what (`user_agent`). `payload` says what happened.
 */
const securityEnvelope = <T extends string, P extends z.ZodTypeAny>(type: T, payload: P) =>
  z.object({
    ...attributes(type),
    subject: z.string().optional().describe('what the action was about (an account, a dead letter)'),
    ...delivery,
    data: z.object({
      actor: z.uuid().nullable(),
      client_address: z.string().max(100).nullable(),
      user_agent: z.string().max(512).nullable(),
      payload,
    }),
  });

const LoginPayload = z.object({
  email: z.string().max(254),
  reason: z.enum(['wrong_credentials', 'rate_limited', 'busy', 'account_disabled']).optional(),
});
const RegistrationPayload = z.object({
  email: z.string().max(254),
  outcome: z.enum(['created', 'already_registered']),
  by: z.enum(['self', 'admin']),
});
const PasswordChangedPayload = z.object({});
const DeadLetterActionPayload = z.object({
  dead_letter_id: z.string().optional(),
  topic: z.string().optional(),
  replayed: z.number().int().nonnegative().optional(),
  reason: z.string().optional(),
});
const UserDisabledPayload = z.object({
  user_id: z.uuid(),
  email: z.string().max(254),
  reason: z.string().optional(),
});
const ProjectionReplayedPayload = z.object({
  projection: z.enum(['audit', 'sync']),
  from: z.string().nullable(),
  dry_run: z.boolean(),
  read: z.number().int().nonnegative(),
  applied: z.number().int().nonnegative(),
});
const AuditExportedPayload = z.object({
  format: z.enum(['csv', 'ndjson']),
  filters: z.record(z.string(), z.unknown()),
});

export const SecurityEventSchemas = {
  'auth.login_succeeded': securityEnvelope('auth.login_succeeded', LoginPayload),
  'auth.login_failed': securityEnvelope('auth.login_failed', LoginPayload),
  'auth.registered': securityEnvelope('auth.registered', RegistrationPayload),
  'auth.password_changed': securityEnvelope('auth.password_changed', PasswordChangedPayload),
  'admin.dlq_replayed': securityEnvelope('admin.dlq_replayed', DeadLetterActionPayload),
  'admin.dlq_discarded': securityEnvelope('admin.dlq_discarded', DeadLetterActionPayload),
  'admin.user_disabled': securityEnvelope('admin.user_disabled', UserDisabledPayload),
  'admin.projection_replayed': securityEnvelope('admin.projection_replayed', ProjectionReplayedPayload),
  'audit.exported': securityEnvelope('audit.exported', AuditExportedPayload),
} as const;
export type SecurityEventName = keyof typeof SecurityEventSchemas;
export const SecurityEventNames = Object.keys(SecurityEventSchemas) as SecurityEventName[];

/**
 * Payment events (ADR 0017): `data` carries the transaction as it is after the change (or the
 * wallet's new balance), so a consumer needs no read back. Partition key: a wallet id (the
 * debited wallet for transaction events, the changed wallet for `balance.updated`).
 */
const paymentEnvelope = <T extends string, D extends z.ZodTypeAny>(type: T, subject: string, data: D) =>
  z.object({
    ...attributes(type),
    subject: z.uuid().describe(subject),
    ...delivery,
    data,
  });
const TransactionChange = z.object({ transaction: Transaction });
const txEnvelope = <T extends string>(type: T) =>
  paymentEnvelope(type, 'the transaction id', TransactionChange);

export const BalancePayload = z.object({
  wallet_id: z.uuid(),
  user_id: z.uuid().nullable(),
  currency: Currency,
  balance: z.number().int().describe('minor units after the change'),
  delta: z.number().int().describe('signed minor units of this change'),
  version: z.number().int().positive().describe('per wallet, gap-free: the count of its changes'),
  transaction_id: z.uuid(),
});
export const FraudScorePayload = z.object({
  transaction_id: z.uuid(),
  wallet_id: z.uuid(),
  score: z.number().min(0).max(1),
  threshold: z.number().min(0),
  decision: z.enum(['allow', 'hold']).describe('hold: the score reached the threshold'),
  factors: FraudFactors,
});
export const WithdrawalPayload = z.object({
  withdrawal_id: z.uuid().describe('the transaction id'),
  wallet_id: z.uuid(),
  amount: MinorUnits,
  currency: Currency,
  reason: FailureReason.nullable(),
});

export const PaymentEventSchemas = {
  'transaction.created': txEnvelope('transaction.created'),
  'transaction.held': txEnvelope('transaction.held'),
  'transaction.completed': txEnvelope('transaction.completed'),
  'transaction.failed': txEnvelope('transaction.failed'),
  'transaction.reversed': txEnvelope('transaction.reversed'),
  'balance.updated': paymentEnvelope('balance.updated', 'the wallet id', BalancePayload),
  'fraud.score.updated': paymentEnvelope('fraud.score.updated', 'the transaction id', FraudScorePayload),
  'withdrawal.requested': paymentEnvelope('withdrawal.requested', 'the transaction id', WithdrawalPayload),
  'withdrawal.completed': paymentEnvelope('withdrawal.completed', 'the transaction id', WithdrawalPayload),
  'withdrawal.failed': paymentEnvelope('withdrawal.failed', 'the transaction id', WithdrawalPayload),
  'withdrawal.reversed': paymentEnvelope('withdrawal.reversed', 'the transaction id', WithdrawalPayload),
} as const;
export type PaymentEventName = keyof typeof PaymentEventSchemas;

export const EventSchemas = {
  'task.created': envelope('task.created', TaskPayload),
  'task.updated': envelope('task.updated', TaskPayload),
  'task.completed': envelope('task.completed', TaskPayload),
  'task.reopened': envelope('task.reopened', TaskPayload),
  'task.deleted': envelope('task.deleted', TaskPayload),
  'reminder.scheduled': envelope('reminder.scheduled', ReminderPayload),
  'reminder.cancelled': envelope('reminder.cancelled', ReminderCancelledPayload),
  'reminder.sent': envelope('reminder.sent', ReminderOutcomePayload),
  'reminder.failed': envelope('reminder.failed', ReminderOutcomePayload),
  'notification.created': envelope('notification.created', NotificationPayload),
  ...SecurityEventSchemas,
  ...PaymentEventSchemas,
} as const;

export type EventName = keyof typeof EventSchemas;
export const EventNames = Object.keys(EventSchemas) as EventName[];
export type EventOf<N extends EventName> = z.infer<(typeof EventSchemas)[N]>;
export type TaskEvent = EventOf<
  'task.created' | 'task.updated' | 'task.completed' | 'task.reopened' | 'task.deleted'
>;
export type AnyEvent = { [N in EventName]: EventOf<N> }[EventName];

/** Schema version per event; bump it (and keep the old file) on a breaking change. */
export const SCHEMA_VERSION = 'v1';
export const dataschemaFor = (name: EventName) => `${SCHEMA_BASE}/${SCHEMA_VERSION}/${name}.json`;

/** Any CloudEvent of ours, validated by its type; unknown types are rejected. */
export const CloudEvent = z.discriminatedUnion(
  'type',
  Object.values(EventSchemas) as unknown as [
    (typeof EventSchemas)[EventName],
    ...(typeof EventSchemas)[EventName][],
  ],
);

/** The CloudEvent type of an event name: `task.created` → `com.taskstream.task.created`. */
export const eventType = (name: EventName): string => `${TYPE_PREFIX}${name}`;

export const eventName = (type: string): EventName | undefined => {
  const name = type.startsWith(TYPE_PREFIX) ? type.slice(TYPE_PREFIX.length) : '';
  return name in EventSchemas ? (name as EventName) : undefined;
};

/** Which topics carry which events (AsyncAPI channels). */
export const TopicEvents: Record<Topic, EventName[]> = {
  'task-events': ['task.created', 'task.updated', 'task.completed', 'task.reopened', 'task.deleted'],
  reminders: ['reminder.scheduled', 'reminder.cancelled', 'reminder.sent', 'reminder.failed'],
  'task-updates': [
    'task.created',
    'task.updated',
    'task.completed',
    'task.reopened',
    'task.deleted',
    'notification.created',
  ],
  'task-commands': [],
  'security-events': SecurityEventNames,
  'payment-events': [
    'transaction.created',
    'transaction.held',
    'transaction.completed',
    'transaction.failed',
    'transaction.reversed',
    'balance.updated',
    'fraud.score.updated',
  ],
  'withdrawal-events': [
    'withdrawal.requested',
    'withdrawal.completed',
    'withdrawal.failed',
    'withdrawal.reversed',
  ],
};

/** What a topic's Kafka record key (the partition key) is. */
export const TopicKeys: Record<Topic, string> = {
  'task-events': 'the user id',
  reminders: 'the user id',
  'task-updates': 'the user id',
  'task-commands': 'the user id',
  'security-events': 'the user id',
  'payment-events': 'a wallet id: the debited wallet of a transaction, the changed wallet of a balance',
  'withdrawal-events': 'the wallet id the money leaves',
};

/** Dapr app ids (docs/ARCHITECTURE.md §3). */
export const AppIds = [
  'task-api',
  'recurring',
  'notification',
  'audit',
  'sync',
  'payments',
  'fraud',
] as const;
export type AppId = (typeof AppIds)[number];

const taskEventNames = TopicEvents['task-events'];
/**
 * Who publishes which events to which topic and who subscribes to what (docs/ARCHITECTURE.md §3);
 * the AsyncAPI operations. A subscriber also sends what it gives up on to `<topic>.dlq`.
 */
export interface AppTopicUse {
  publishes: Partial<Record<Topic, EventName[]>>;
  subscribes: Topic[];
}
export const AppTopics: Record<AppId, AppTopicUse> = {
  'task-api': {
    publishes: {
      'task-events': taskEventNames,
      reminders: ['reminder.scheduled', 'reminder.cancelled'],
      'task-updates': taskEventNames,
      'security-events': SecurityEventNames.filter(
        (n) => n !== 'audit.exported' && n !== 'admin.projection_replayed',
      ),
    },
    subscribes: ['task-commands'],
  },
  recurring: { publishes: {}, subscribes: ['task-events'] },
  notification: {
    // docs/ARCHITECTURE.md §3 names both; the outcome of each delivery also goes to `reminders`.
    publishes: { reminders: ['reminder.sent', 'reminder.failed'], 'task-updates': ['notification.created'] },
    subscribes: ['reminders', 'task-events'],
  },
  audit: {
    publishes: { 'security-events': ['audit.exported', 'admin.projection_replayed'] },
    subscribes: ['task-events', 'security-events'],
  },
  sync: { publishes: { 'security-events': ['admin.projection_replayed'] }, subscribes: ['task-updates'] },
  payments: {
    publishes: {
      'payment-events': TopicEvents['payment-events'].filter((n) => n !== 'fraud.score.updated'),
      'withdrawal-events': TopicEvents['withdrawal-events'],
    },
    // fraud.score.updated: the score that completes or holds a created transaction.
    subscribes: ['payment-events'],
  },
  fraud: { publishes: { 'payment-events': ['fraud.score.updated'] }, subscribes: ['payment-events'] },
};

/**
 * A dead-lettered event is the original CloudEvent plus these extension attributes
 * (both EventBus adapters add them before publishing to `<topic>.dlq`).
 */
export const DeadLetterAttributes = z
  .object({
    deadletterreason: z.string().describe('the last error'),
    deadletterconsumer: z.string().describe('the consumer that gave up'),
    deadletterattempts: z.number().int().positive().describe('deliveries tried'),
  })
  .meta({ id: 'DeadLetterAttributes' });
