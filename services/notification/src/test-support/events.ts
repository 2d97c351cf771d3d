import { randomBytes } from 'node:crypto';
import { type Channel, dataschemaFor, type EventName, type Task } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import { v7 as uuidv7 } from 'uuid';

/** Events as task-api writes them, for driving the notification service in tests. */

export interface TestTask {
  id: string;
  user_id: string;
  title: string;
  due_date: string | null;
  time_zone: string;
  version: number;
  /** task-api's per-user sequence of the mutation. */
  sequence: number;
  status?: Task['status'];
  reminders?: Task['reminders'];
}

const traceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

function envelope(name: EventName, task: TestTask, payload: unknown, changed: string[] = []): Envelope {
  return {
    specversion: '1.0',
    id: uuidv7(),
    type: `com.taskstream.${name}`,
    source: '/taskstream/task-api',
    time: new Date().toISOString(),
    subject: task.id,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: traceparent(),
    data: {
      user_id: task.user_id,
      task_id: task.id,
      sequence: task.sequence,
      task_version: task.version,
      idempotency_key: `${task.id}:${task.version}:${name}`,
      payload,
      changed_fields: changed,
    },
  };
}

export function fullTask(task: TestTask): Task {
  const now = new Date().toISOString();
  return {
    id: task.id,
    user_id: task.user_id,
    title: task.title,
    description: '',
    status: task.status ?? 'pending',
    priority: 'medium',
    tags: [],
    due_date: task.due_date,
    time_zone: task.time_zone,
    recurrence: null,
    reminders: task.reminders ?? [{ offset_minutes: 10, channels: ['email'] }],
    series_id: null,
    occurrence: 1,
    version: task.version,
    created_at: now,
    updated_at: now,
    completed_at: task.status === 'completed' ? now : null,
  };
}

export function reminderScheduled(
  task: TestTask,
  fireAt: string,
  channels: Channel[],
  index = 0,
): OutgoingMessage {
  const payload = {
    reminder_id: `${task.id}.${index}`,
    fire_at: fireAt,
    channels,
    title: task.title,
    due_date: task.due_date,
    time_zone: task.time_zone,
  };
  return {
    topic: 'reminders',
    partitionKey: task.user_id,
    event: envelope('reminder.scheduled', task, payload),
  };
}

export function reminderCancelled(task: TestTask, reason: string, index = 0): OutgoingMessage {
  return {
    topic: 'reminders',
    partitionKey: task.user_id,
    event: envelope('reminder.cancelled', task, { reminder_id: `${task.id}.${index}`, reason }),
  };
}

export function taskEvent(
  kind: 'created' | 'updated' | 'completed' | 'reopened' | 'deleted',
  task: TestTask,
): OutgoingMessage {
  return {
    topic: 'task-events',
    partitionKey: task.user_id,
    event: envelope(`task.${kind}`, task, { task: fullTask(task) }),
  };
}
