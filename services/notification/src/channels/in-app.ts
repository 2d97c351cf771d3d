import { type Queryable, traceIdOf } from '@taskstream/platform';
import { v7 as uuidv7 } from 'uuid';
import type { ReminderContent } from '../compose.js';
import type { ReminderState } from '../state.js';
import type { ChannelSender, SendContext, SendResult } from './types.js';

export interface NotificationRow {
  id: string;
  user_id: string;
  task_id: string | null;
  reminder_id: string | null;
  title: string;
  body: string;
  event_id: string;
  read_at: Date | null;
  created_at: Date;
}

/**
 * In-app: a row in the user's inbox. `notification.created` for the sync service is published
 * after the row commits, with the event id kept on the row, so a repeat publishes the same event.
 */
export function createInAppChannel(): ChannelSender {
  return {
    async send({ client, reminder, content }: SendContext): Promise<SendResult> {
      await client.query(
        `INSERT INTO notifications (id, user_id, task_id, reminder_id, fire_at, title, body, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (reminder_id, fire_at) DO NOTHING`,
        [
          uuidv7(),
          reminder.user_id,
          reminder.task_id,
          reminder.reminder_id,
          reminder.fire_at,
          reminder.title,
          content.summary,
          uuidv7(),
        ],
      );
      return { status: 'sent' };
    },
  };
}

/**
 * The first in-app delivery of a firing as one statement: the channel row (settled as sent), the
 * notification and the attempt record, all or nothing. Nothing leaves the database, so no lock
 * needs holding across a send. Returns the channel row, or undefined when the firing's in-app
 * row already existed (a duplicate trigger): the caller then takes the general, locked path.
 */
export async function deliverInAppOnce(db: Queryable, reminder: ReminderState, content: ReminderContent) {
  const { rows } = await db.query(
    `WITH channel AS (
       INSERT INTO reminder_channels (reminder_id, fire_at, channel, user_id, task_id, sequence, task_version, status, attempts, traceparent)
       VALUES ($1, $2, 'in_app', $3, $4, $5, $6, 'sent', 1, $11)
       ON CONFLICT DO NOTHING RETURNING *
     ), note AS (
       INSERT INTO notifications (id, user_id, task_id, reminder_id, fire_at, title, body, event_id)
       SELECT $7, $3, $4, $1, $2, $8, $9, $10 FROM channel
       ON CONFLICT (reminder_id, fire_at) DO NOTHING
     ), attempt AS (
       INSERT INTO deliveries (reminder_id, fire_at, channel, user_id, attempt, status, trace_id)
       SELECT $1, $2, 'in_app', $3, 1, 'sent', $12 FROM channel
     )
     SELECT * FROM channel`,
    [
      reminder.reminder_id,
      reminder.fire_at,
      reminder.user_id,
      reminder.task_id,
      reminder.sequence,
      reminder.task_version,
      uuidv7(),
      reminder.title,
      content.summary,
      uuidv7(),
      reminder.traceparent ?? null,
      traceIdOf(reminder.traceparent) ?? null,
    ],
  );
  return rows[0];
}
