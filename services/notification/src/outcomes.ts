import { type Channel, deadLetterTopic, Topics } from '@taskstream/contracts';
import {
  type EventBus,
  type OutgoingMessage,
  type Pool,
  type Transaction,
  withTransaction,
} from '@taskstream/platform';
import { reminderEnvelope } from './events.js';

const LEFTOVER_BATCH = 500;

interface SettledRow {
  reminder_id: string;
  fire_at: Date;
  channel: Channel;
  user_id: string;
  task_id: string;
  sequence: number;
  task_version: number;
  status: 'sent' | 'skipped' | 'dead' | 'cancelled';
  attempts: number;
  last_error: string | null;
  traceparent: string | null;
  notification_id: string | null;
  notification_title: string | null;
  notification_body: string | null;
  notification_event_id: string | null;
  notification_created_at: Date | null;
}

/** What a settled channel announces: reminder.sent (+ notification.created for in-app), or reminder.failed and its dead letter. */
export function outcomeMessages(row: SettledRow): OutgoingMessage[] {
  const reminder = {
    user_id: row.user_id,
    task_id: row.task_id,
    sequence: row.sequence,
    task_version: row.task_version,
    traceparent: row.traceparent,
  };
  const key = `${row.reminder_id}.${row.fire_at.getTime()}:${row.channel}`;
  const payload = { reminder_id: row.reminder_id, channel: row.channel, attempt: Math.max(1, row.attempts) };
  const on = (topic: string, event: OutgoingMessage['event']) => ({
    topic,
    partitionKey: row.user_id,
    event,
  });
  if (row.status === 'sent') {
    const messages: OutgoingMessage[] = [];
    if (row.channel === 'in_app' && row.notification_id) {
      const created = row.notification_created_at!.toISOString();
      const notification = {
        notification_id: row.notification_id,
        title: row.notification_title!,
        body: row.notification_body!,
        created_at: created,
      };
      // The event id is kept on the notification row: a second publish is the same event.
      const event = reminderEnvelope('notification.created', reminder, notification, `${key}:notification`, {
        id: row.notification_event_id!,
        time: created,
      });
      messages.push(on(Topics.taskUpdates, event));
    }
    messages.push(on(Topics.reminders, reminderEnvelope('reminder.sent', reminder, payload, `${key}:sent`)));
    return messages;
  }
  if (row.status === 'dead') {
    const reason = row.last_error ?? 'unknown error';
    const failed = reminderEnvelope(
      'reminder.failed',
      reminder,
      { ...payload, error: reason },
      `${key}:failed`,
    );
    return [
      on(Topics.reminders, failed),
      // The dead letter is the failed outcome with the attributes every dead letter carries.
      on(deadLetterTopic(Topics.reminders), {
        ...failed,
        deadletterreason: reason,
        deadletterconsumer: 'notification',
        deadletterattempts: Math.max(1, row.attempts),
      }),
    ];
  }
  return [];
}

/** A settled channel of a firing, whose outcome is published in the transaction that settled it. */
export interface ChannelKey {
  reminder_id: string;
  fire_at: Date | string;
  channel: Channel;
}

/**
 * Publishes the outcomes of the given channels, settled in the caller's transaction `tx`, with
 * it (exactly once: only channels whose outcome is not yet published are taken, and marked).
 * The in-app notification written in the same transaction is read for `notification.created`.
 */
export async function publishOutcomes(tx: Transaction, bus: EventBus, channels: ChannelKey[]) {
  if (channels.length === 0) return;
  const { rows } = await tx.query<SettledRow>({
    name: 'notification_publish_outcomes',
    text: `WITH settled AS (
       UPDATE reminder_channels c SET outcome_published = true
       FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS p(reminder_id, fire_at, channel)
       WHERE c.reminder_id = p.reminder_id AND c.fire_at = p.fire_at AND c.channel = p.channel
         AND NOT c.outcome_published AND c.status IN ('sent', 'skipped', 'dead', 'cancelled')
       RETURNING c.*
     )
     SELECT c.reminder_id, c.fire_at, c.channel, c.user_id, c.task_id, c.sequence, c.task_version, c.status,
       c.attempts, c.last_error, c.traceparent, n.id AS notification_id, n.title AS notification_title, n.body AS notification_body,
       n.event_id AS notification_event_id, n.created_at AS notification_created_at
     FROM settled c
     LEFT JOIN notifications n ON c.channel = 'in_app' AND n.reminder_id = c.reminder_id AND n.fire_at = c.fire_at
     ORDER BY c.updated_at`,
    values: [
      channels.map((c) => c.reminder_id),
      channels.map((c) => c.fire_at),
      channels.map((c) => c.channel),
    ],
  });
  await bus.publishInTransaction(tx, rows.flatMap(outcomeMessages));
}

/**
 * Publishes what a database from before outcomes were published in their transaction still
 * holds: channels settled and not yet announced by the relay that used to do it. Runs at start,
 * in batches; replicas starting together skip each other's rows.
 */
export async function publishLeftoverOutcomes(pool: Pool, bus: EventBus) {
  for (;;) {
    const taken = await withTransaction(pool, async (tx) => {
      const { rows } = await tx.query<ChannelKey>(
        `SELECT reminder_id, fire_at, channel FROM reminder_channels
         WHERE NOT outcome_published AND status IN ('sent', 'skipped', 'dead', 'cancelled')
         ORDER BY updated_at LIMIT ${LEFTOVER_BATCH} FOR UPDATE SKIP LOCKED`,
      );
      await publishOutcomes(tx, bus, rows);
      return rows.length;
    });
    if (taken < LEFTOVER_BATCH) return;
  }
}
