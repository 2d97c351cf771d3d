import { dataschemaFor, type EventName, type Task, Topics } from '@taskstream/contracts';
import { type Envelope, newId, type OutgoingMessage } from '@taskstream/platform';

export type TaskChange = 'created' | 'updated' | 'completed' | 'reopened' | 'deleted';
type Changes = Record<string, { before: unknown; after: unknown }>;

export interface MutationContext {
  sequence: number;
  traceparent: string;
  time: string;
}

const SOURCE = '/taskstream/task-api';
const TRACKED: (keyof Task)[] = [
  'title',
  'description',
  'status',
  'priority',
  'tags',
  'due_date',
  'time_zone',
  'recurrence',
  'reminders',
  'completed_at',
];

/** Field-level before/after of what a mutation changed (audit shows both). */
export function diffTasks(before: Task, after: Task): Changes {
  const changes: Changes = {};
  for (const field of TRACKED) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
      changes[field] = { before: before[field], after: after[field] };
    }
  }
  return changes;
}

function envelope(
  name: EventName,
  task: Task,
  ctx: MutationContext,
  payload: unknown,
  changedFields: string[],
): Envelope {
  return {
    specversion: '1.0',
    id: newId(),
    type: `com.taskstream.${name}`,
    source: SOURCE,
    time: ctx.time,
    subject: task.id,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: ctx.traceparent,
    data: {
      user_id: task.user_id,
      task_id: task.id,
      sequence: ctx.sequence,
      task_version: task.version,
      idempotency_key: `${task.id}:${task.version}:${name}`,
      payload,
      changed_fields: changedFields,
    },
  };
}

interface PlannedReminder {
  reminder_id: string;
  fire_at: string;
  channels: Task['reminders'][number]['channels'];
}

/** When each of a task's reminders fires; an offset reminder of a task without a due date never does. */
export function reminderPlan(task: Task): PlannedReminder[] {
  const plan: PlannedReminder[] = [];
  task.reminders.forEach((reminder, index) => {
    const fireAt =
      reminder.at !== undefined
        ? new Date(reminder.at)
        : task.due_date
          ? new Date(Date.parse(task.due_date) - (reminder.offset_minutes ?? 0) * 60_000)
          : undefined;
    if (fireAt)
      plan.push({
        reminder_id: `${task.id}.${index}`,
        fire_at: fireAt.toISOString(),
        channels: reminder.channels,
      });
  });
  return plan;
}

const REMINDER_INPUTS: (keyof Task)[] = ['title', 'due_date', 'time_zone', 'reminders', 'status'];

function reminderMessages(
  change: TaskChange,
  before: Task | undefined,
  after: Task,
  ctx: MutationContext,
): OutgoingMessage[] {
  const oldPlan = before && before.status === 'pending' ? reminderPlan(before) : [];
  const newPlan = after.status === 'pending' && change !== 'deleted' ? reminderPlan(after) : [];
  const relevant =
    !before ||
    REMINDER_INPUTS.some((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f])) ||
    change === 'deleted';
  if (!relevant) return [];
  const keep = new Set(newPlan.map((r) => r.reminder_id));
  const reason = change === 'completed' || change === 'deleted' ? `task ${change}` : 'reminder removed';
  const messages: OutgoingMessage[] = [];
  for (const old of oldPlan) {
    if (keep.has(old.reminder_id)) continue;
    messages.push(
      message(
        Topics.reminders,
        after,
        envelope('reminder.cancelled', after, ctx, { reminder_id: old.reminder_id, reason }, []),
      ),
    );
  }
  for (const reminder of newPlan) {
    const payload = { ...reminder, title: after.title, due_date: after.due_date, time_zone: after.time_zone };
    messages.push(message(Topics.reminders, after, envelope('reminder.scheduled', after, ctx, payload, [])));
  }
  return messages;
}

const message = (topic: string, task: Task, event: Envelope): OutgoingMessage => ({
  topic,
  partitionKey: task.user_id,
  event,
});

/**
 * Everything one mutation publishes: the task event on task-events and task-updates (the same
 * event, so consumers can correlate), and reminder.scheduled / reminder.cancelled on reminders.
 */
export function messagesFor(
  change: TaskChange,
  before: Task | undefined,
  after: Task,
  ctx: MutationContext,
): OutgoingMessage[] {
  const changes = before ? diffTasks(before, after) : undefined;
  const name = `task.${change}` as EventName;
  const event = envelope(
    name,
    after,
    ctx,
    changes ? { task: after, changes } : { task: after },
    Object.keys(changes ?? {}),
  );
  return [
    message(Topics.taskEvents, after, event),
    message(Topics.taskUpdates, after, event),
    ...reminderMessages(change, before, after, ctx),
  ];
}
