import type { Channel, EventName, Task } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import {
  taskEvent as buildTaskEvent,
  eventEnvelope,
  onTopic,
  sampleTask,
  type TaskAction,
} from '@taskstream/platform/test-support';

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

/** Any event about `task`, as its producer writes it. */
const envelope = (name: EventName, task: TestTask, payload: unknown): Envelope =>
  eventEnvelope(name, { user_id: task.user_id, task_id: task.id, task_version: task.version }, payload, {
    sequence: task.sequence,
  });

export function fullTask(task: TestTask): Task {
  return sampleTask(task.user_id, {
    id: task.id,
    title: task.title,
    status: task.status ?? 'pending',
    due_date: task.due_date,
    time_zone: task.time_zone,
    reminders: task.reminders ?? [{ offset_minutes: 10, channels: ['email'] }],
    version: task.version,
    completed_at: task.status === 'completed' ? new Date().toISOString() : null,
  });
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
  return onTopic('reminders', envelope('reminder.scheduled', task, payload));
}

export function reminderCancelled(task: TestTask, reason: string, index = 0): OutgoingMessage {
  return onTopic(
    'reminders',
    envelope('reminder.cancelled', task, { reminder_id: `${task.id}.${index}`, reason }),
  );
}

export function taskEvent(kind: TaskAction, task: TestTask): OutgoingMessage {
  return onTopic('task-events', buildTaskEvent(kind, fullTask(task), { sequence: task.sequence }));
}
