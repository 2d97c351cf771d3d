import { dataschemaFor, type EventName, eventName } from '@taskstream/contracts';
import { childTraceparent, type Envelope } from '@taskstream/platform';
import { v7 as uuidv7 } from 'uuid';
import type { ReminderState } from './state.js';

const SOURCE = '/taskstream/notification';

/** The contract name of a CloudEvent type we know (`com.taskstream.task.created` → `task.created`). */
export const nameOf = (event: Envelope) => eventName(String(event.type));

/**
 * An event about a reminder, in the shape every taskstream event has. It carries the sequence of
 * the task mutation that planned the reminder: notification events do not advance task-api's
 * per-user counter, they sit beside the mutation they stem from.
 */
export function reminderEnvelope(
  name: EventName,
  reminder: Pick<ReminderState, 'user_id' | 'task_id' | 'sequence' | 'task_version'> & {
    /** The reminder's trace: its events continue it. */
    traceparent?: string | null;
  },
  payload: unknown,
  idempotencyKey: string,
  options: { id?: string; time?: string } = {},
): Envelope {
  return {
    specversion: '1.0',
    id: options.id ?? uuidv7(),
    type: `com.taskstream.${name}`,
    source: SOURCE,
    time: options.time ?? new Date().toISOString(),
    subject: reminder.task_id,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: childTraceparent(reminder.traceparent),
    data: {
      user_id: reminder.user_id,
      task_id: reminder.task_id,
      sequence: reminder.sequence,
      task_version: reminder.task_version,
      idempotency_key: idempotencyKey,
      payload,
      changed_fields: [],
    },
  };
}
