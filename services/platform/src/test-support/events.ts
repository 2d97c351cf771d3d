import { randomBytes } from 'node:crypto';
import { dataschemaFor, type EventName, type Task, TYPE_PREFIX } from '@taskstream/contracts';
import { v7 as uuidv7 } from 'uuid';
import type { Envelope, OutgoingMessage } from '../ports.js';

/** Events as their producers publish them, for driving a service in tests: the one builder. */

export type TaskAction = 'created' | 'updated' | 'completed' | 'reopened' | 'deleted';

export interface EventOptions {
  id?: string;
  time?: Date;
  /** The per-user sequence of the task mutation the event stems from (default 1). */
  sequence?: number;
  traceId?: string;
  source?: string;
  idempotencyKey?: string;
  changedFields?: string[];
}

export interface TaskEventOptions extends EventOptions {
  /** An update's before and after per field; also its `changed_fields` unless those are given. */
  changes?: Record<string, { before: unknown; after: unknown }>;
}

/** A taskstream event about a task of a user, in the envelope every producer writes. */
export function eventEnvelope(
  name: EventName,
  about: { user_id: string; task_id: string; task_version: number },
  payload: unknown,
  options: EventOptions = {},
): Envelope {
  const traceId = options.traceId ?? randomBytes(16).toString('hex');
  return {
    specversion: '1.0',
    id: options.id ?? uuidv7(),
    type: `${TYPE_PREFIX}${name}`,
    source: options.source ?? '/taskstream/task-api',
    time: (options.time ?? new Date()).toISOString(),
    subject: about.task_id,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    data: {
      user_id: about.user_id,
      task_id: about.task_id,
      sequence: options.sequence ?? 1,
      task_version: about.task_version,
      idempotency_key: options.idempotencyKey ?? `${about.task_id}:${about.task_version}:${name}`,
      payload,
      changed_fields: options.changedFields ?? [],
    },
  };
}

/** The `task.<action>` event of `task` as task-api publishes it. */
export function taskEvent(action: TaskAction, task: Task, options: TaskEventOptions = {}): Envelope {
  const { changes, ...rest } = options;
  return eventEnvelope(
    `task.${action}`,
    { user_id: task.user_id, task_id: task.id, task_version: task.version },
    changes ? { task, changes } : { task },
    { changedFields: Object.keys(changes ?? {}), ...rest },
  );
}

/** A bus message on `topic`, keyed by the event's user as every producer keys them. */
export const onTopic = (topic: string, event: Envelope): OutgoingMessage => ({
  topic,
  partitionKey: (event.data as { user_id: string }).user_id,
  event,
});
