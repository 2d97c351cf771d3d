import type { Channel } from '@taskstream/contracts';
import {
  type JobTrigger,
  type PoolClient,
  type ServiceDeps,
  traceIdOf,
  withTransaction,
} from '@taskstream/platform';
import {
  bookedLater,
  type ChannelRow,
  followUpName,
  type Outcome,
  recordOutcome,
  SETTLED,
  withChannelRow,
} from './channel-row.js';
import { deliverInAppOnce } from './channels/in-app.js';
import { type ChannelSender, DeliveryError } from './channels/types.js';
import { composeReminder, type ReminderContent } from './compose.js';
import { createFiringCheck } from './firing.js';
import { DELIVERY_JOB_PREFIX, type FiringRef, REMINDER_JOB_PREFIX, reminderJobName } from './jobs.js';
import { publishOutcomes } from './outcomes.js';
import type { UserPreferences } from './preferences.js';
import { quietUntil } from './quiet-hours.js';
import type { ReminderState } from './state.js';

export { DELIVERY_JOB_PREFIX, type FiringRef, REMINDER_JOB_PREFIX, reminderJobName } from './jobs.js';

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
  const attempts = metrics.counter(
    'notification_delivery_attempts_total',
    'Reminder delivery attempts by outcome',
    ['channel', 'status'],
  );

  const content = (r: ReminderState): ReminderContent => composeReminder(r, config.PUBLIC_URL);
  const firingId = (r: Pick<ReminderState, 'reminder_id' | 'fire_at'>) =>
    `${r.reminder_id}.${Date.parse(r.fire_at)}`;
  const { liveReminder, cancelDeliveries } = createFiringCheck(deps);

  async function scheduleFollowUp(r: ReminderState, channel: Channel, name: string, at: Date) {
    const data: FiringRef = {
      reminder_id: r.reminder_id,
      fire_at: r.fire_at,
      task_id: r.task_id,
      user_id: r.user_id,
      channel,
    };
    await ports.jobs.schedule({ name, dueTime: at.toISOString(), data });
  }

  async function afterCommit(r: ReminderState, row: ChannelRow) {
    if ((row.status === 'retrying' || row.status === 'deferred') && row.pending_job && row.next_attempt_at) {
      await scheduleFollowUp(r, row.channel, row.pending_job, row.next_attempt_at);
    }
  }

  /** Records one attempt and counts it. */
  async function record(client: PoolClient, r: ReminderState, channel: Channel, outcome: Outcome) {
    const row = await recordOutcome(client, ports.bus, r, channel, outcome);
    attempts.inc({ channel, status: outcome.status === 'retrying' ? 'failed' : outcome.status });
    return row;
  }

  /** One attempt on one channel, recorded with its outcome in the same transaction. */
  async function attempt(r: ReminderState, channel: Channel, jobName: string | undefined) {
    if (channel === 'in_app') {
      const row = await withTransaction(pool, async (tx) => {
        const settled = (await deliverInAppOnce(tx, r, content(r))) as ChannelRow | undefined;
        if (settled) await publishOutcomes(tx, ports.bus, [settled]);
        return settled;
      });
      if (row) {
        attempts.inc({ channel, status: 'sent' });
        return afterCommit(r, row);
      }
    }
    const sender = channels[channel];
    const row = await withChannelRow(pool, r, channel, async (row, client) => {
      if (SETTLED.includes(row.status) || bookedLater(row, jobName)) return row;
      const attemptNo = row.attempts + 1;
      try {
        const result = await sender.send({
          client,
          reminder: r,
          content: content(r),
          detail: row.detail ?? {},
          firingId: firingId(r),
        });
        const error = result.status === 'skipped' ? (result.note ?? null) : null;
        return record(client, r, channel, {
          status: result.status,
          attempt: attemptNo,
          error,
          detail: result.detail ?? row.detail,
        });
      } catch (err) {
        const e =
          err instanceof DeliveryError
            ? err
            : new DeliveryError(err instanceof Error ? err.message : String(err));
        const detail = e.detail ?? row.detail;
        if (e.permanent || attemptNo > retryDelaysMs.length) {
          log.error(
            {
              reminder_id: r.reminder_id,
              trace_id: traceIdOf(r.traceparent),
              channel,
              attempt: attemptNo,
              error: e.message,
            },
            'reminder delivery gave up',
          );
          return record(client, r, channel, { status: 'dead', attempt: attemptNo, error: e.message, detail });
        }
        const retryAt = new Date(Date.now() + retryDelaysMs[attemptNo - 1]!);
        log.warn(
          {
            reminder_id: r.reminder_id,
            trace_id: traceIdOf(r.traceparent),
            channel,
            attempt: attemptNo,
            error: e.message,
            retry_at: retryAt,
          },
          'reminder delivery failed; will retry',
        );
        return record(client, r, channel, {
          status: 'retrying',
          attempt: attemptNo,
          error: e.message,
          detail,
          retryAt,
        });
      }
    });
    await afterCommit(r, row);
  }

  /** Quiet hours: the channel waits for their end (a follow-up job); nothing is attempted now. */
  async function defer(r: ReminderState, channel: Channel, until: Date) {
    const row = await withChannelRow(pool, r, channel, async (row, client) => {
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
    const row = await withChannelRow(pool, r, channel, async (row, client) => {
      if (SETTLED.includes(row.status)) return row;
      return record(client, r, channel, {
        status: 'skipped',
        attempt: row.attempts + 1,
        error: reason,
        detail: row.detail,
      });
    });
    await afterCommit(r, row);
  }

  /** Preferences decide per channel: off → skipped, quiet (except in-app) → deferred, else attempted. */
  async function handleChannel(
    r: ReminderState,
    channel: Channel,
    prefs: UserPreferences,
    jobName: string | undefined,
  ) {
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
    const live = await liveReminder(ref);
    if (!live) {
      log.debug({ job: trigger.name }, 'reminder no longer due; nothing sent');
      return;
    }
    delay.observe(-early / 1000);
    const { r, prefs } = live;
    const results = await Promise.allSettled(
      r.channels.map((channel) => handleChannel(r, channel, prefs, undefined)),
    );
    const failure = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) throw failure.reason;
  }

  async function onDeliveryJob(trigger: JobTrigger) {
    const ref = trigger.data as FiringRef;
    if (!ref.channel) throw new Error(`delivery job ${trigger.name} names no channel`);
    const live = await liveReminder(ref);
    if (!live) return;
    await handleChannel(live.r, ref.channel, live.prefs, trigger.name);
  }

  /**
   * The reminder is off (or moved: `keepFireAt` spares the current firing and `keepJob` its job):
   * its job and any retries or deferred deliveries booked for it go.
   */
  return {
    register() {
      ports.jobs.onTrigger(REMINDER_JOB_PREFIX, onReminderJob);
      ports.jobs.onTrigger(DELIVERY_JOB_PREFIX, onDeliveryJob);
    },
    async schedule(r: ReminderState) {
      await ports.jobs.schedule({
        name: reminderJobName(r.reminder_id),
        dueTime: r.fire_at,
        data: {
          reminder_id: r.reminder_id,
          fire_at: r.fire_at,
          task_id: r.task_id,
          user_id: r.user_id,
        } satisfies FiringRef,
      });
    },
    cancelDeliveries,
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
