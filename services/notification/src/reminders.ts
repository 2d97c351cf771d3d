import type { EventOf, TaskEvent } from '@taskstream/contracts';
import type { StateStore } from '@taskstream/platform';
import type { Dispatcher } from './dispatcher.js';
import { nameOf } from './events.js';
import {
  type ReminderState,
  reminderKey,
  type TaskRecord,
  TOMBSTONE_TTL_SECONDS,
  taskKey,
  updateState,
} from './state.js';

/**
 * A reminder whose time had long passed when its task was written (a task created or reopened
 * with an old due date) is recorded as missed instead of firing at once.
 */
export const MISSED_AFTER_MS = 60 * 60 * 1000;

/** A task record nobody wrote for this long is dropped (a later event of the task makes a new one). */
const TASK_RECORD_TTL_SECONDS = 400 * 24 * 3600;

/** State is kept a while after it stops mattering: long enough to refuse late, older events. */
const reminderTtl = (next: ReminderState) =>
  next.status === 'scheduled'
    ? Math.max(0, Math.ceil((Date.parse(next.fire_at) - Date.now()) / 1000)) + TOMBSTONE_TTL_SECONDS
    : TOMBSTONE_TTL_SECONDS;
const taskTtl = (next: TaskRecord) =>
  next.status === 'pending' ? TASK_RECORD_TTL_SECONDS : TOMBSTONE_TTL_SECONDS;

/**
 * Keeps reminder state from `reminders` and `task-events`. Each change is guarded by the task
 * version (an older event never overwrites newer state) and by the event id (a redelivered event
 * changes nothing), then the job is scheduled or deleted; both are idempotent, so a crash between
 * the state write and the job call is healed by the redelivery.
 */
export function createReminderHandlers(state: StateStore, dispatcher: Dispatcher) {
  async function cancelReminder(
    reminderId: string,
    source: { id: string; user_id: string; task_id: string; task_version: number; sequence: number },
    reason: string,
  ) {
    const { value } = await updateState<ReminderState>(
      state,
      reminderKey(reminderId),
      (current) => {
        if (current && current.task_version > source.task_version) return undefined;
        if (current?.status === 'cancelled') return undefined;
        return {
          reminder_id: reminderId,
          fire_at: current?.fire_at ?? new Date(0).toISOString(),
          channels: current?.channels ?? [],
          title: current?.title ?? '',
          due_date: current?.due_date ?? null,
          time_zone: current?.time_zone ?? 'UTC',
          user_id: source.user_id,
          task_id: source.task_id,
          task_version: source.task_version,
          sequence: source.sequence,
          status: 'cancelled',
          reason,
          event_id: source.id,
          updated_at: new Date().toISOString(),
        };
      },
      reminderTtl,
    );
    if (value?.status === 'cancelled' && value.task_version <= source.task_version)
      await dispatcher.cancelDeliveries(reminderId);
  }

  async function onScheduled(event: EventOf<'reminder.scheduled'>) {
    const { data } = event;
    const p = data.payload;
    const { value: task } = await updateState<TaskRecord>(
      state,
      taskKey(data.task_id),
      (current) => {
        if (!current) {
          return {
            task_id: data.task_id,
            user_id: data.user_id,
            version: data.task_version,
            status: 'pending',
            due_date: p.due_date,
            title: p.title,
            reminder_ids: [p.reminder_id],
          };
        }
        if (current.reminder_ids.includes(p.reminder_id)) return undefined;
        return { ...current, reminder_ids: [...current.reminder_ids, p.reminder_id] };
      },
      taskTtl,
    );
    // task-events may be ahead of reminders: the task is already completed or deleted.
    if (task && task.version > data.task_version && task.status !== 'pending') {
      await cancelReminder(p.reminder_id, { id: event.id, ...data }, `task ${task.status}`);
      return;
    }
    const missed = Date.parse(p.fire_at) < Date.parse(event.time) - MISSED_AFTER_MS;
    let previous: ReminderState | undefined;
    const { value } = await updateState<ReminderState>(
      state,
      reminderKey(p.reminder_id),
      (current) => {
        if (current && current.task_version > data.task_version) return undefined;
        if (current && current.event_id === event.id) return undefined;
        previous = current;
        return {
          reminder_id: p.reminder_id,
          user_id: data.user_id,
          task_id: data.task_id,
          fire_at: new Date(p.fire_at).toISOString(),
          channels: [...new Set(p.channels)],
          title: p.title,
          due_date: p.due_date,
          time_zone: p.time_zone,
          task_version: data.task_version,
          sequence: data.sequence,
          status: missed ? 'missed' : 'scheduled',
          ...(missed ? { reason: 'fire time had passed when the task was written' } : {}),
          event_id: event.id,
          traceparent: event.traceparent,
          updated_at: new Date().toISOString(),
        };
      },
      reminderTtl,
    );
    if (!value || value.event_id !== event.id) return;
    // Deliveries still booked for an earlier fire time of this reminder are moot now.
    if (value.status !== 'scheduled' || (previous && previous.fire_at !== value.fire_at)) {
      await dispatcher.cancelDeliveries(p.reminder_id, {
        keepFireAt: value.fire_at,
        keepJob: value.status === 'scheduled',
      });
    }
    if (value.status === 'scheduled') await dispatcher.schedule(value);
  }

  async function onCancelled(event: EventOf<'reminder.cancelled'>) {
    const { data } = event;
    await cancelReminder(data.payload.reminder_id, { id: event.id, ...data }, data.payload.reason);
  }

  async function onTaskEvent(event: TaskEvent) {
    const { data } = event;
    const task = data.payload.task;
    const name = nameOf(event);
    // A task created without reminders is not tracked, and nothing about it can be ahead of its
    // first version: skip the state read (a sidecar call under Dapr) that would find nothing to do.
    if (name === 'task.created' && task.reminders.length === 0) return;
    const status = name === 'task.deleted' ? 'deleted' : task.status;
    const { value } = await updateState<TaskRecord>(
      state,
      taskKey(task.id),
      (current) => {
        // Tasks that never had reminders are not tracked.
        if (!current && task.reminders.length === 0) return undefined;
        if (current && current.version >= data.task_version) return undefined;
        return {
          task_id: task.id,
          user_id: task.user_id,
          version: data.task_version,
          status,
          due_date: task.due_date,
          title: task.title,
          reminder_ids: current?.reminder_ids ?? [],
        };
      },
      taskTtl,
    );
    if (!value || value.version !== data.task_version || value.status === 'pending') return;
    for (const reminderId of value.reminder_ids) {
      await cancelReminder(reminderId, { id: event.id, ...data }, `task ${value.status}`);
    }
  }

  return { onScheduled, onCancelled, onTaskEvent };
}
