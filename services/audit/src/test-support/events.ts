import { randomBytes, randomUUID } from 'node:crypto';
import { dataschemaFor, type Task, Topics } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import { sampleTask } from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';

export type TaskAction = 'created' | 'updated' | 'completed' | 'reopened' | 'deleted';

export const task = (userId: string, over: Partial<Task> = {}): Task => sampleTask(userId, over);

export interface EventOptions {
  time?: Date;
  sequence?: number;
  changes?: Record<string, { before: unknown; after: unknown }>;
  traceId?: string;
}

/** A task event as task-api publishes it on task-events. */
export function taskEvent(action: TaskAction, t: Task, options: EventOptions = {}): Envelope {
  const name = `task.${action}` as const;
  const traceId = options.traceId ?? randomBytes(16).toString('hex');
  return {
    specversion: '1.0',
    id: uuidv7(),
    type: `com.taskstream.${name}`,
    source: '/taskstream/task-api',
    time: (options.time ?? new Date()).toISOString(),
    subject: t.id,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    data: {
      user_id: t.user_id,
      task_id: t.id,
      sequence: options.sequence ?? 1,
      task_version: t.version,
      idempotency_key: `${t.id}:${t.version}:${name}`,
      payload: options.changes ? { task: t, changes: options.changes } : { task: t },
      changed_fields: Object.keys(options.changes ?? {}),
    },
  };
}

export const onTaskEvents = (event: Envelope): OutgoingMessage => ({
  topic: Topics.taskEvents,
  partitionKey: (event.data as { user_id: string }).user_id,
  event,
});
