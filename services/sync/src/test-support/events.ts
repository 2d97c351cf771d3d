import { randomUUID } from 'node:crypto';
import { dataschemaFor, type EventName, Topics, TYPE_PREFIX } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import { sampleTask } from '@taskstream/platform/test-support';
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
  const taskId = options.taskId ?? randomUUID();
  const now = new Date().toISOString();
  const version = options.version ?? 1;
  const status = options.status ?? (name === 'task.completed' ? 'completed' : 'pending');
  return {
    specversion: '1.0',
    id: uuidv7(),
    type: `${TYPE_PREFIX}${name}`,
    source: '/task-api',
    time: now,
    subject: taskId,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
    data: {
      user_id: userId,
      task_id: taskId,
      sequence: version,
      task_version: version,
      idempotency_key: `${taskId}:${version}:${name}`,
      payload: {
        task: sampleTask(userId, {
          id: taskId,
          title: options.title ?? 'Water the plants',
          description: options.description ?? '',
          status,
          tags: options.tags ?? [],
          version,
          created_at: now,
          updated_at: now,
          completed_at: status === 'completed' ? now : null,
        }),
      },
      changed_fields: name === 'task.updated' ? ['title'] : [],
    },
  };
}

/** An in-app notification as the notification service publishes it on task-updates. */
export function notificationEvent(userId: string, taskId = randomUUID()): Envelope {
  const now = new Date().toISOString();
  const id = uuidv7();
  return {
    specversion: '1.0',
    id,
    type: `${TYPE_PREFIX}notification.created`,
    source: '/notification',
    time: now,
    subject: taskId,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor('notification.created'),
    traceparent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
    data: {
      user_id: userId,
      task_id: taskId,
      sequence: 1,
      task_version: 1,
      idempotency_key: `notification:${id}`,
      payload: { notification_id: id, title: 'Water the plants', body: 'due now', created_at: now },
      changed_fields: [],
    },
  };
}

/** Bus messages for task-updates, keyed by user like every producer does. */
export const onTaskUpdates = (...events: Envelope[]): OutgoingMessage[] =>
  events.map((event) => ({
    topic: Topics.taskUpdates,
    partitionKey: (event.data as { user_id: string }).user_id,
    event,
  }));
