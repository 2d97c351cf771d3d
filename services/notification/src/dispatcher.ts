import type { Channel } from '@taskstream/contracts';
import {
  type JobTrigger,
  type PoolClient,
  type ServiceDeps,
  traceIdOf,
  withTransaction,
} from '@taskstream/platform';
import { deliverInAppOnce } from './channels/in-app.js';
import { type ChannelSender, DeliveryError } from './channels/types.js';
import { composeReminder, type ReminderContent } from './compose.js';
import { publishOutcomes } from './outcomes.js';
import { preferencesOf, type UserPreferences } from './preferences.js';
import { quietUntil } from './quiet-hours.js';
import {
  type ReminderState,
  type ReminderStatus,
  reminderKey,
  type TaskRecord,
  TOMBSTONE_TTL_SECONDS,
  taskKey,
  updateState,
} from './state.js';

export const REMINDER_JOB_PREFIX = 'reminder-';
export const DELIVERY_JOB_PREFIX = 'delivery-';
export const reminderJobName = (reminderId: string) => `${REMINDER_JOB_PREFIX}${reminderId}`;

const sameInstant = (a: string | null, b: string | null) =>
  a === null || b === null ? a === b : Date.parse(a) === Date.parse(b);

/** What a job carries: which firing (and, for a retry or a deferral, which channel). */
export interface FiringRef {
  reminder_id: string;
  fire_at: string;
  task_id?: string;
  user_id?: string;
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
  const attempts = metrics.counter(
    'notification_delivery_attempts_total',
    'Reminder delivery attempts by outcome',
    ['channel', 'status'],
  );

  const content = (r: ReminderState): ReminderContent => composeReminder(r, config.PUBLIC_URL);
  const firingId = (r: Pick<ReminderState, 'reminder_id' | 'fire_at'>) =>
    `${r.reminder_id}.${Date.parse(r.fire_at)}`;

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
  async function liveReminder(
    ref: FiringRef,
  ): Promise<{ r: ReminderState; prefs: UserPreferences } | undefined> {
    // The job names the task and user, so the three reads go out together.
    const [stored, known, knownPrefs] = await Promise.all([
      ports.state.get<ReminderState>(reminderKey(ref.reminder_id)),
      ref.task_id ? ports.state.get<TaskRecord>(taskKey(ref.task_id)) : undefined,
      ref.user_id ? preferencesOf(pool, ref.user_id) : undefined,
    ]);
    const r = stored?.value;
    if (!r || Date.parse(r.fire_at) !== Date.parse(ref.fire_at)) return undefined;
    if (r.status !== 'scheduled' && r.status !== 'fired') return undefined;
    const task =
      ref.task_id === r.task_id
        ? known?.value
        : (await ports.state.get<TaskRecord>(taskKey(r.task_id)))?.value;
    const prefs = ref.user_id === r.user_id && knownPrefs ? knownPrefs : await preferencesOf(pool, r.user_id);
    if (task && task.version > r.task_version) {
      if (task.status !== 'pending') {
        await markReminder(r, 'cancelled', `task ${task.status}`);
        await cancelDeliveries(r.reminder_id);
        return undefined;
      }
      if (!sameInstant(task.due_date, r.due_date)) {
        await markReminder(r, 'superseded', 'task due date changed');
        return undefined;
      }
      return { r: { ...r, title: task.title }, prefs };
    }
    return { r, prefs };
  }

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

  const followUpName = (r: ReminderState, channel: Channel, at: Date) =>
    `${DELIVERY_JOB_PREFIX}${r.reminder_id}.${channel}.${at.getTime()}`;

  /** Locks the channel row of this firing (creating it) and lets `work` decide inside the transaction. */
  async function withChannelRow<T>(
    r: ReminderState,
    channel: Channel,
    work: (row: ChannelRow, client: PoolClient) => Promise<T>,
  ) {
    return withTransaction(pool, async (client) => {
      // Inserted, or the existing row locked and read as last committed (a duplicate waits here).
      const { rows } = await client.query<ChannelRow>(
        `INSERT INTO reminder_channels (reminder_id, fire_at, channel, user_id, task_id, sequence, task_version, status, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)
         ON CONFLICT (reminder_id, fire_at, channel) DO UPDATE SET updated_at = reminder_channels.updated_at
         RETURNING *`,
        [
          r.reminder_id,
          r.fire_at,
          channel,
          r.user_id,
          r.task_id,
          r.sequence,
          r.task_version,
          r.traceparent ?? null,
        ],
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
  }

  interface Outcome {
    status: 'sent' | 'skipped' | 'dead' | 'retrying';
    attempt: number;
    /** The error of a failed attempt, or why a channel was skipped. */
    error: string | null;
    detail: Record<string, unknown>;
    retryAt?: Date;
  }

  /** Records one attempt in `deliveries` and the channel's new state, in one statement, and publishes a settled channel's outcome. */
  async function record(
    client: PoolClient,
    r: ReminderState,
    channel: Channel,
    outcome: Outcome,
  ): Promise<ChannelRow> {
    const retrying = outcome.status === 'retrying';
    const { rows } = await client.query<ChannelRow>(
      `WITH attempt AS (
         INSERT INTO deliveries (reminder_id, fire_at, channel, user_id, attempt, status, error, trace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $15)
       )
       UPDATE reminder_channels SET status = $8, attempts = $5, last_error = $7, detail = $9, next_attempt_at = $10,
         pending_job = $11, task_id = $12, sequence = $13, task_version = $14, updated_at = now()
       WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 RETURNING *`,
      [
        r.reminder_id,
        r.fire_at,
        channel,
        r.user_id,
        outcome.attempt,
        retrying ? 'failed' : outcome.status,
        outcome.error,
        outcome.status,
        JSON.stringify(outcome.detail),
        retrying ? outcome.retryAt : null,
        retrying ? followUpName(r, channel, outcome.retryAt!) : null,
        r.task_id,
        r.sequence,
        r.task_version,
        traceIdOf(r.traceparent) ?? null,
      ],
    );
    attempts.inc({ channel, status: retrying ? 'failed' : outcome.status });
    const row = rows[0]!;
    // What a settled channel announces goes out if and only if this transaction commits.
    if (SETTLED.includes(row.status)) await publishOutcomes(client, ports.bus, [row]);
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
    const row = await withChannelRow(r, channel, async (row, client) => {
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
