import { z } from 'zod';
import { Channel, Task } from './tasks.js';

export const TYPE_PREFIX = 'com.taskstream.';
export const SCHEMA_BASE = 'https://taskstream.dev/schemas/events';

export const Topics = {
  taskEvents: 'task-events',
  reminders: 'reminders',
  taskUpdates: 'task-updates',
  taskCommands: 'task-commands',
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

const envelope = <T extends string, P extends z.ZodTypeAny>(type: T, payload: P) =>
  z.object({
    specversion: z.literal('1.0'),
    id: z.uuid().describe('UUIDv7'),
    type: z.literal(`${TYPE_PREFIX}${type}` as `com.taskstream.${T}`),
    source: z.string().min(1),
    time: z.iso.datetime({ offset: true }),
    subject: z.uuid().describe('the task id'),
    datacontenttype: z.literal('application/json'),
    dataschema: z.url(),
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
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
};

/** Dapr app ids (docs/ARCHITECTURE.md §3). */
export const AppIds = ['task-api', 'recurring', 'notification', 'audit', 'sync'] as const;
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
    },
    subscribes: ['task-commands'],
  },
  recurring: { publishes: {}, subscribes: ['task-events'] },
  notification: {
    // docs/ARCHITECTURE.md §3 names both; the outcome of each delivery also goes to `reminders`.
    publishes: { reminders: ['reminder.sent', 'reminder.failed'], 'task-updates': ['notification.created'] },
    subscribes: ['reminders', 'task-events'],
  },
  audit: { publishes: {}, subscribes: ['task-events'] },
  sync: { publishes: {}, subscribes: ['task-updates'] },
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
