import { randomUUID } from 'node:crypto';
import { type EventName, Topics } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import {
  taskEvent as buildTaskEvent,
  eventEnvelope,
  onTopic,
  sampleTask,
  type TaskAction,
} from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';

export interface TaskEventOptions {
  type?: Extract<EventName, `task.${string}`>;
  taskId?: string;
  status?: 'pending' | 'completed';
  tags?: string[];
  title?: string;
  description?: string;
  version?: number;
}

/** A valid task event as task-api publishes it on task-updates. */
export function taskEvent(userId: string, options: TaskEventOptions = {}): Envelope {
  const name = options.type ?? 'task.updated';
  const version = options.version ?? 1;
  const status = options.status ?? (name === 'task.completed' ? 'completed' : 'pending');
  const now = new Date();
  const task = sampleTask(userId, {
    id: options.taskId ?? randomUUID(),
    title: options.title ?? 'Water the plants',
    description: options.description ?? '',
    status,
    tags: options.tags ?? [],
    version,
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    completed_at: status === 'completed' ? now.toISOString() : null,
  });
  return buildTaskEvent(name.slice('task.'.length) as TaskAction, task, {
    time: now,
    sequence: version,
    changedFields: name === 'task.updated' ? ['title'] : [],
  });
}

/** An in-app notification as the notification service publishes it on task-updates. */
export function notificationEvent(userId: string, taskId = randomUUID()): Envelope {
  const now = new Date().toISOString();
  const id = uuidv7();
  return eventEnvelope(
    'notification.created',
    { user_id: userId, task_id: taskId, task_version: 1 },
    { notification_id: id, title: 'Water the plants', body: 'due now', created_at: now },
    { id, source: '/taskstream/notification', idempotencyKey: `notification:${id}` },
  );
}

/** Bus messages for task-updates, keyed by user like every producer does. */
export const onTaskUpdates = (...events: Envelope[]): OutgoingMessage[] =>
  events.map((event) => onTopic(Topics.taskUpdates, event));
