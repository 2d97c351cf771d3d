import { randomBytes } from 'node:crypto';
import { dataschemaFor, type SecurityEventName, type Task, Topics, TYPE_PREFIX } from '@taskstream/contracts';
import type { Envelope, OutgoingMessage } from '@taskstream/platform';
import { onTopic, sampleTask } from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';

export { type TaskAction, taskEvent } from '@taskstream/platform/test-support';

export const task = (userId: string, over: Partial<Task> = {}): Task => sampleTask(userId, over);

export const onTaskEvents = (event: Envelope) => onTopic(Topics.taskEvents, event);

/** A security event (ADR 0015) as task-api publishes it, on its topic under its actor's key. */
export function securityEvent(
  action: SecurityEventName,
  actor: string | null,
  payload: Record<string, unknown>,
  time = new Date(),
): OutgoingMessage {
  const event: Envelope = {
    specversion: '1.0',
    id: uuidv7(),
    type: `${TYPE_PREFIX}${action}`,
    source: '/taskstream/task-api',
    time: time.toISOString(),
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(action),
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    data: { actor, client_address: '203.0.113.9', user_agent: 'test', payload },
  };
  return { topic: Topics.securityEvents, partitionKey: actor ?? 'anonymous', event };
}
