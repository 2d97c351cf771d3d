import type { ServiceDeps } from '@taskstream/platform';
import { type FiringRef, reminderJobName } from './jobs.js';
import { preferencesOf, type UserPreferences } from './preferences.js';
import {
  type ReminderState,
  type ReminderStatus,
  reminderKey,
  type TaskRecord,
  TOMBSTONE_TTL_SECONDS,
  taskKey,
  updateState,
} from './state.js';

const sameInstant = (a: string | null, b: string | null) =>
  a === null || b === null ? a === b : Date.parse(a) === Date.parse(b);

/**
 * Whether a firing still goes out, read when its job comes due: the reminder as planned, not
 * cancelled, its task not completed, deleted or moved since. What is off is marked so and its
 * booked deliveries cancelled.
 */
export function createFiringCheck(deps: Pick<ServiceDeps, 'pool' | 'ports'>) {
  const { pool, ports } = deps;

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

  return { liveReminder, cancelDeliveries };
}
