import { v7 as uuidv7 } from 'uuid';
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
