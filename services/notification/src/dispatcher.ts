import { type Channel, deadLetterTopic, Topics } from '@taskstream/contracts';
import { type JobTrigger, type OutgoingMessage, type PoolClient, type ServiceDeps, withTransaction } from '@taskstream/platform';
import { composeReminder, type ReminderContent } from './compose.js';
import { notificationOfFiring } from './channels/in-app.js';
import { type ChannelSender, DeliveryError } from './channels/types.js';
import { reminderEnvelope } from './events.js';
import { preferencesOf, type UserPreferences } from './preferences.js';
import { quietUntil } from './quiet-hours.js';
import { type ReminderState, type ReminderStatus, reminderKey, TOMBSTONE_TTL_SECONDS, type TaskRecord, taskKey, updateState } from './state.js';

export const REMINDER_JOB_PREFIX = 'reminder-';
export const DELIVERY_JOB_PREFIX = 'delivery-';
export const reminderJobName = (reminderId: string) => `${REMINDER_JOB_PREFIX}${reminderId}`;

/** What a job carries: which firing (and, for a retry or a deferral, which channel). */
export interface FiringRef {
  reminder_id: string;
  fire_at: string;
  channel?: Channel;
}

type RowStatus = 'pending' | 'deferred' | 'retrying' | 'sent' | 'skipped' | 'dead' | 'cancelled';
const SETTLED: RowStatus[] = ['sent', 'skipped', 'dead', 'cancelled'];

interface ChannelRow {
  reminder_id: string;
  fire_at: Date;
  channel: Channel;
  user_id: string;
  status: RowStatus;
  attempts: number;
  next_attempt_at: Date | null;
  pending_job: string | null;
  last_error: string | null;
  detail: Record<string, unknown>;
  outcome_published: boolean;
}

export interface DispatcherOptions {
  deps: ServiceDeps;
  channels: Record<Channel, ChannelSender>;
  /** Wait before attempt 2, 3, …; after the last, the delivery is dead-lettered. */
  retryDelaysMs: number[];
}

/**
 * Fires reminders: re-reads the state when a job comes due (a cancelled, moved or finished task
 * sends nothing), applies the user's channels and quiet hours, and delivers each channel once.
 *
 * Once per firing and channel: the attempt runs inside a transaction holding that channel's row
 * locked, and records its outcome there. A duplicate trigger waits on the lock and then finds the
 * channel settled. A failed attempt schedules its retry as a job of its own; the last failure is
 * dead-lettered on `reminders.dlq` and announced as `reminder.failed`.
 */
export function createDispatcher(options: DispatcherOptions) {
  const { deps, channels, retryDelaysMs } = options;
  const { pool, ports, logger, metrics, config } = deps;
  const log = logger.child({ component: 'reminder-dispatcher' });
  const delay = metrics.histogram(
    'reminder_fire_delay_seconds',
    'Time from a reminder being due to its firing being handled',
    [],
    [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  );
  const attempts = metrics.counter('notification_delivery_attempts_total', 'Reminder delivery attempts by outcome', ['channel', 'status']);

  const content = (r: ReminderState): ReminderContent => composeReminder(r, config.PUBLIC_URL);
  const firingId = (r: Pick<ReminderState, 'reminder_id' | 'fire_at'>) => `${r.reminder_id}.${Date.parse(r.fire_at)}`;

  async function markReminder(r: ReminderState, status: ReminderStatus, reason?: string) {
    await updateState<ReminderState>(
      ports.state,
      reminderKey(r.reminder_id),
      (current) => {
        // Only the state this firing read; a newer plan (moved, rescheduled) is left alone.
        if (!current || current.event_id !== r.event_id || current.status === status) return undefined;
        if (current.status !== 'scheduled' && current.status !== 'fired') return undefined;
        return { ...current, status, ...(reason ? { reason } : {}), updated_at: new Date().toISOString() };
      },
      () => TOMBSTONE_TTL_SECONDS,
    );
  }

  /**
   * The reminder as it stands, if this firing should still go out: same fire time as planned,
   * not cancelled, and the task not completed, deleted or moved since.
   */
  async function liveReminder(ref: FiringRef): Promise<ReminderState | undefined> {
    const r = (await ports.state.get<ReminderState>(reminderKey(ref.reminder_id)))?.value;
    if (!r || Date.parse(r.fire_at) !== Date.parse(ref.fire_at)) return undefined;
    if (r.status !== 'scheduled' && r.status !== 'fired') return undefined;
    const task = (await ports.state.get<TaskRecord>(taskKey(r.task_id)))?.value;
    if (task && task.version > r.task_version) {
      if (task.status !== 'pending') {
        await markReminder(r, 'cancelled', `task ${task.status}`);
        await cancelDeliveries(r.reminder_id);
        return undefined;
      }
      if (task.due_date !== r.due_date) {
        await markReminder(r, 'superseded', 'task due date changed');
        return undefined;
      }
      return { ...r, title: task.title };
    }
    return r;
  }

  async function scheduleFollowUp(r: ReminderState, channel: Channel, name: string, at: Date) {
    const data: FiringRef = { reminder_id: r.reminder_id, fire_at: r.fire_at, channel };
    await ports.jobs.schedule({ name, dueTime: at.toISOString(), data });
  }

  const followUpName = (r: ReminderState, channel: Channel, at: Date) =>
    `${DELIVERY_JOB_PREFIX}${r.reminder_id}.${channel}.${at.getTime()}`;

  /** Locks the channel row of this firing (creating it) and lets `work` decide inside the transaction. */
  async function withChannelRow<T>(r: ReminderState, channel: Channel, work: (row: ChannelRow, client: PoolClient) => Promise<T>) {
    return withTransaction(pool, async (client) => {
      await client.query(
        `INSERT INTO reminder_channels (reminder_id, fire_at, channel, user_id, status) VALUES ($1, $2, $3, $4, 'pending')
         ON CONFLICT DO NOTHING`,
        [r.reminder_id, r.fire_at, channel, r.user_id],
      );
      const { rows } = await client.query<ChannelRow>(
        'SELECT * FROM reminder_channels WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 FOR UPDATE',
        [r.reminder_id, r.fire_at, channel],
      );
      return work(rows[0]!, client);
    });
  }

  /** A follow-up (retry or end of quiet hours) is already booked for later: make sure its job exists. */
  function bookedLater(row: ChannelRow, jobName: string | undefined) {
    return (
      (row.status === 'retrying' || row.status === 'deferred') &&
      row.pending_job !== null &&
      row.pending_job !== jobName &&
      row.next_attempt_at !== null &&
      row.next_attempt_at.getTime() > Date.now()
    );
  }

  async function afterCommit(r: ReminderState, row: ChannelRow) {
    if ((row.status === 'retrying' || row.status === 'deferred') && row.pending_job && row.next_attempt_at) {
      await scheduleFollowUp(r, row.channel, row.pending_job, row.next_attempt_at);
    }
    if (SETTLED.includes(row.status) && !row.outcome_published) await publishOutcome(r, row);
  }

  /** reminder.sent / reminder.failed (+ the dead letter), and notification.created for in-app. */
  async function publishOutcome(r: ReminderState, row: ChannelRow) {
    const messages: OutgoingMessage[] = [];
    const key = `${firingId(r)}:${row.channel}`;
    const payload = { reminder_id: r.reminder_id, channel: row.channel, attempt: Math.max(1, row.attempts) };
    if (row.status === 'sent') {
      if (row.channel === 'in_app') {
        const note = await notificationOfFiring(pool, r.reminder_id, r.fire_at);
        if (note) {
          const event = reminderEnvelope(
            'notification.created',
            r,
            { notification_id: note.id, title: note.title, body: note.body, created_at: note.created_at.toISOString() },
            `${key}:notification`,
            { id: note.event_id, time: note.created_at.toISOString() },
          );
          messages.push({ topic: Topics.taskUpdates, partitionKey: r.user_id, event });
        }
      }
      messages.push({ topic: Topics.reminders, partitionKey: r.user_id, event: reminderEnvelope('reminder.sent', r, payload, `${key}:sent`) });
    } else if (row.status === 'dead') {
      const failed = reminderEnvelope('reminder.failed', r, { ...payload, error: row.last_error ?? 'unknown error' }, `${key}:failed`);
      messages.push({ topic: Topics.reminders, partitionKey: r.user_id, event: failed });
      messages.push({
        topic: deadLetterTopic(Topics.reminders),
        partitionKey: r.user_id,
        event: { ...failed, deadletterreason: row.last_error ?? 'unknown error', deadletterconsumer: 'notification', deadletterattempts: Math.max(1, row.attempts) },
      });
    }
    if (messages.length > 0) await ports.bus.publish(messages);
    await pool.query('UPDATE reminder_channels SET outcome_published = true WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3', [
      r.reminder_id,
      r.fire_at,
      row.channel,
    ]);
  }

  /** One attempt on one channel, recorded with its outcome in the same transaction. */
  async function attempt(r: ReminderState, channel: Channel, jobName: string | undefined) {
    const sender = channels[channel];
    const row = await withChannelRow(r, channel, async (row, client) => {
      if (SETTLED.includes(row.status) || bookedLater(row, jobName)) return row;
      const attemptNo = row.attempts + 1;
      const record = (status: string, error: string | null) =>
        client.query(
          `INSERT INTO deliveries (reminder_id, fire_at, channel, user_id, attempt, status, error) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [r.reminder_id, r.fire_at, channel, r.user_id, attemptNo, status, error],
        );
      let next: Partial<ChannelRow>;
      try {
        const result = await sender.send({ client, reminder: r, content: content(r), detail: row.detail ?? {}, firingId: firingId(r) });
        next = { status: result.status, last_error: result.status === 'skipped' ? (result.note ?? null) : null, detail: result.detail ?? row.detail };
        await record(result.status, result.status === 'skipped' ? (result.note ?? null) : null);
      } catch (err) {
        const e = err instanceof DeliveryError ? err : new DeliveryError(err instanceof Error ? err.message : String(err));
        const detail = e.detail ?? row.detail;
        if (e.permanent || attemptNo > retryDelaysMs.length) {
          next = { status: 'dead', last_error: e.message, detail };
          await record('dead', e.message);
          log.error({ reminder_id: r.reminder_id, channel, attempt: attemptNo, error: e.message }, 'reminder delivery gave up');
        } else {
          const at = new Date(Date.now() + retryDelaysMs[attemptNo - 1]!);
          next = { status: 'retrying', last_error: e.message, detail, next_attempt_at: at, pending_job: followUpName(r, channel, at) };
          await record('failed', e.message);
          log.warn({ reminder_id: r.reminder_id, channel, attempt: attemptNo, error: e.message, retry_at: at }, 'reminder delivery failed; will retry');
        }
      }
      attempts.inc({ channel, status: next.status === 'retrying' ? 'failed' : next.status! });
      const settled = next.status !== 'retrying';
      const { rows } = await client.query<ChannelRow>(
        `UPDATE reminder_channels SET status = $4, attempts = $5, last_error = $6, detail = $7,
           next_attempt_at = $8, pending_job = $9, updated_at = now()
         WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 RETURNING *`,
        [
          r.reminder_id,
          r.fire_at,
          channel,
          next.status,
          attemptNo,
          next.last_error ?? null,
          JSON.stringify(next.detail ?? {}),
          settled ? null : next.next_attempt_at,
          settled ? null : next.pending_job,
        ],
      );
      return rows[0]!;
    });
    await afterCommit(r, row);
  }

  /** Quiet hours: the channel waits for their end (a follow-up job); nothing is attempted now. */
  async function defer(r: ReminderState, channel: Channel, until: Date) {
    const row = await withChannelRow(r, channel, async (row, client) => {
      if (SETTLED.includes(row.status) || bookedLater(row, undefined)) return row;
      const { rows } = await client.query<ChannelRow>(
        `UPDATE reminder_channels SET status = 'deferred', next_attempt_at = $4, pending_job = $5, updated_at = now()
         WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 RETURNING *`,
        [r.reminder_id, r.fire_at, channel, until, followUpName(r, channel, until)],
      );
      log.info({ reminder_id: r.reminder_id, channel, until }, 'quiet hours: delivery deferred');
      return rows[0]!;
    });
    await afterCommit(r, row);
  }

  /** A channel the user turned off: settled without an attempt. */
  async function skip(r: ReminderState, channel: Channel, reason: string) {
    const row = await withChannelRow(r, channel, async (row, client) => {
      if (SETTLED.includes(row.status)) return row;
      await client.query(
        `INSERT INTO deliveries (reminder_id, fire_at, channel, user_id, attempt, status, error) VALUES ($1, $2, $3, $4, $5, 'skipped', $6)`,
        [r.reminder_id, r.fire_at, channel, r.user_id, row.attempts + 1, reason],
      );
      const { rows } = await client.query<ChannelRow>(
        `UPDATE reminder_channels SET status = 'skipped', last_error = $4, next_attempt_at = NULL, pending_job = NULL, updated_at = now()
         WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 RETURNING *`,
        [r.reminder_id, r.fire_at, channel, reason],
      );
      return rows[0]!;
    });
    await afterCommit(r, row);
  }

  /** Preferences decide per channel: off → skipped, quiet (except in-app) → deferred, else attempted. */
  async function handleChannel(r: ReminderState, channel: Channel, prefs: UserPreferences, jobName: string | undefined) {
    if (!prefs.channels.includes(channel)) return skip(r, channel, 'channel turned off in preferences');
    const quietEnd = channel === 'in_app' ? undefined : quietUntil(prefs.quiet_hours, new Date());
    if (quietEnd) return defer(r, channel, quietEnd);
    return attempt(r, channel, jobName);
  }

  async function onReminderJob(trigger: JobTrigger) {
    const ref = trigger.data as FiringRef;
    const early = Date.parse(ref.fire_at) - Date.now();
    // Both schedulers promise "not before due"; should one fire early, fail so it comes back.
    if (early > 0) throw new Error(`reminder job ${trigger.name} fired ${early} ms before it was due`);
    const r = await liveReminder(ref);
    if (!r) {
      log.debug({ job: trigger.name }, 'reminder no longer due; nothing sent');
      return;
    }
    delay.observe(-early / 1000);
    const prefs = await preferencesOf(pool, r.user_id);
    const results = await Promise.allSettled(r.channels.map((channel) => handleChannel(r, channel, prefs, undefined)));
    const failure = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) throw failure.reason;
    await markReminder(r, 'fired');
  }

  async function onDeliveryJob(trigger: JobTrigger) {
    const ref = trigger.data as FiringRef;
    if (!ref.channel) throw new Error(`delivery job ${trigger.name} names no channel`);
    const r = await liveReminder(ref);
    if (!r) return;
    await handleChannel(r, ref.channel, await preferencesOf(pool, r.user_id), trigger.name);
  }

  /**
   * The reminder is off (or moved: `keepFireAt` spares the current firing and `keepJob` its job):
   * its job and any retries or deferred deliveries booked for it go.
   */
  async function cancelDeliveries(reminderId: string, keep: { keepFireAt?: string; keepJob?: boolean } = {}) {
    const { rows } = await pool.query<{ pending_job: string | null }>(
      `UPDATE reminder_channels SET status = 'cancelled', outcome_published = true, next_attempt_at = NULL, updated_at = now()
       WHERE reminder_id = $1 AND status IN ('pending', 'deferred', 'retrying') AND ($2::timestamptz IS NULL OR fire_at <> $2)
       RETURNING pending_job`,
      [reminderId, keep.keepFireAt ?? null],
    );
    if (!keep.keepJob) await ports.jobs.delete(reminderJobName(reminderId));
    for (const { pending_job } of rows) if (pending_job) await ports.jobs.delete(pending_job);
  }

  return {
    register() {
      ports.jobs.onTrigger(REMINDER_JOB_PREFIX, onReminderJob);
      ports.jobs.onTrigger(DELIVERY_JOB_PREFIX, onDeliveryJob);
    },
    async schedule(r: ReminderState) {
      await ports.jobs.schedule({ name: reminderJobName(r.reminder_id), dueTime: r.fire_at, data: { reminder_id: r.reminder_id, fire_at: r.fire_at } satisfies FiringRef });
    },
    cancelDeliveries,
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
