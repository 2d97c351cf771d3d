import { type Channel, deadLetterTopic, Topics } from '@taskstream/contracts';
import {
  type EventBus,
  type Logger,
  type OutgoingMessage,
  type Pool,
  withTransaction,
} from '@taskstream/platform';
import { reminderEnvelope } from './events.js';

const BATCH = 500;
/** Safety net for a wake-up lost to a crash between commit and publish. */
const POLL_MS = 1000;

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

/**
 * Publishes the outcomes of settled deliveries from `reminder_channels`, an outbox: a delivery
 * commits its outcome row, and this relay publishes what is not yet published, in batches, and
 * marks it. Woken in-process after a commit; polls as a safety net (e.g. after a crash).
 * At least once: a crash between publish and mark publishes the batch again.
 */
export function createOutcomeRelay(options: { pool: Pool; bus: EventBus; logger: Logger }) {
  const { pool, bus } = options;
  const log = options.logger.child({ component: 'reminder-outcomes' });
  let running = false;
  let loop: Promise<void> | undefined;
  let wakeRequested = false;
  let wakeUp: (() => void) | undefined;

  async function publishBatch(): Promise<number> {
    return withTransaction(pool, async (client) => {
      // One relay at a time across replicas; no row locks, so a delivery never waits on a publish.
      const { rows: lock } = await client.query(
        `SELECT pg_try_advisory_xact_lock(hashtext('notification_outcome_relay')) AS ok`,
      );
      if (!lock[0].ok) return 0;
      const { rows } = await client.query<SettledRow>(
        `SELECT c.reminder_id, c.fire_at, c.channel, c.user_id, c.task_id, c.sequence, c.task_version, c.status,
           c.attempts, c.last_error, c.traceparent, n.id AS notification_id, n.title AS notification_title, n.body AS notification_body,
           n.event_id AS notification_event_id, n.created_at AS notification_created_at
         FROM reminder_channels c
         LEFT JOIN notifications n ON c.channel = 'in_app' AND n.reminder_id = c.reminder_id AND n.fire_at = c.fire_at
         WHERE NOT c.outcome_published AND c.status IN ('sent', 'skipped', 'dead', 'cancelled')
         ORDER BY c.updated_at LIMIT ${BATCH}`,
      );
      if (rows.length === 0) return 0;
      const messages = rows.flatMap(outcomeMessages);
      if (messages.length > 0) await bus.publish(messages);
      await client.query(
        `UPDATE reminder_channels c SET outcome_published = true
         FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS p(reminder_id, fire_at, channel)
         WHERE c.reminder_id = p.reminder_id AND c.fire_at = p.fire_at AND c.channel = p.channel`,
        [rows.map((r) => r.reminder_id), rows.map((r) => r.fire_at), rows.map((r) => r.channel)],
      );
      return rows.length;
    });
  }

  async function run() {
    while (running) {
      let wait = POLL_MS;
      try {
        wakeRequested = false;
        if ((await publishBatch()) === BATCH) continue;
      } catch (err) {
        if (!running) break;
        log.warn({ err }, 'publishing reminder outcomes failed; will try again');
        wait = 2000;
      }
      if (!running || wakeRequested) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  }

  return {
    wake() {
      wakeRequested = true;
      wakeUp?.();
    },
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wakeUp?.();
      await loop;
    },
  };
}

export type OutcomeRelay = ReturnType<typeof createOutcomeRelay>;
