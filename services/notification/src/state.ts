import type { Channel } from '@taskstream/contracts';
import { EtagMismatchError, type StateStore } from '@taskstream/platform';

/** Finished reminders and tasks are kept this long, so that a late, older event cannot revive them. */
export const TOMBSTONE_TTL_SECONDS = 30 * 24 * 3600;

export type ReminderStatus = 'scheduled' | 'fired' | 'cancelled' | 'missed' | 'superseded';

/** `reminder:<reminder_id>` in the StateStore. */
export interface ReminderState {
  reminder_id: string;
  user_id: string;
  task_id: string;
  fire_at: string;
  channels: Channel[];
  title: string;
  due_date: string | null;
  time_zone: string;
  /** The task version the reminder was planned for; older events never overwrite newer state. */
  task_version: number;
  /** task-api's per-user sequence of the mutation that planned it (carried by the events we emit). */
  sequence: number;
  status: ReminderStatus;
  reason?: string;
  /** The event that set this state (a redelivery of it changes nothing). */
  event_id: string;
  /** The trace of the mutation that planned the reminder: its firing and deliveries continue it. */
  traceparent?: string;
  updated_at: string;
}

/**
 * `reminder-task:<task_id>`: what the notification service knows of a task with reminders, from
 * task-events. At firing time it tells a completed, deleted or moved task from a live one even
 * when `reminder.cancelled` has not arrived yet.
 */
export interface TaskRecord {
  task_id: string;
  user_id: string;
  version: number;
  status: 'pending' | 'completed' | 'deleted';
  due_date: string | null;
  title: string;
  reminder_ids: string[];
}

export const reminderKey = (reminderId: string) => `reminder:${reminderId}`;
export const taskKey = (taskId: string) => `reminder-task:${taskId}`;

export const isFinal = (status: ReminderStatus) => status !== 'scheduled';

/**
 * Read, change, write with the etag; on a concurrent write, read again. `change` returns
 * undefined when the stored value needs no change, and must be idempotent: a first write (no
 * etag to guard it) is read back and re-applied when another writer replaced it.
 */
export async function updateState<T>(
  state: StateStore,
  key: string,
  change: (current: T | undefined) => T | undefined,
  ttlSeconds?: (next: T) => number | undefined,
): Promise<{ value: T | undefined; changed: boolean }> {
  let changed = false;
  for (let round = 0; round < 20; round++) {
    const current = await state.get<T>(key);
    const next = change(current?.value);
    if (next === undefined) return { value: current?.value, changed };
    try {
      await state.save(key, next, { etag: current?.etag, ttlSeconds: ttlSeconds?.(next) });
    } catch (err) {
      if (err instanceof EtagMismatchError) continue;
      throw err;
    }
    changed = true;
    // A guarded write is final; a first write is read back (another first write may have won).
    if (current) return { value: next, changed };
  }
  throw new Error(`state key ${key} keeps changing under concurrent writers`);
}
