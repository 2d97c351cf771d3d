/** The task form's state, and how it becomes a create body or the PATCH of what changed. */
import type { Channel, CreateTaskBody, Priority, Reminder, Task, UpdateTaskBody } from '../types.js';
import { emptyRecurrence, formOf, type RecurrenceForm, recurrenceOf } from './recurrence.js';
import { toZonedLocal, zonedToInstant } from './time.js';

export const CHANNELS: { value: Channel; label: string }[] = [
  { value: 'in_app', label: 'In the app' },
  { value: 'email', label: 'Email' },
  { value: 'push', label: 'Push' },
];

export type ReminderUnit = 'minutes' | 'hours' | 'days';
const UNIT_MINUTES: Record<ReminderUnit, number> = { minutes: 1, hours: 60, days: 1440 };

export interface ReminderDraft {
  kind: 'before' | 'at';
  amount: number;
  unit: ReminderUnit;
  /** `datetime-local` with seconds, in the task's zone. */
  at: string;
  channels: Channel[];
}

export interface TaskDraft {
  title: string;
  description: string;
  priority: Priority;
  /** Comma-separated, as typed. */
  tags: string;
  /** `datetime-local` in `timeZone`, or '' for none. */
  due: string;
  timeZone: string;
  recurrence: RecurrenceForm;
  reminders: ReminderDraft[];
}

export function emptyDraft(timeZone: string): TaskDraft {
  return {
    title: '',
    description: '',
    priority: 'medium',
    tags: '',
    due: '',
    timeZone,
    recurrence: emptyRecurrence(),
    reminders: [],
  };
}

export function newReminder(): ReminderDraft {
  return { kind: 'before', amount: 15, unit: 'minutes', at: '', channels: ['in_app'] };
}

function reminderDraftOf(reminder: Reminder, timeZone: string): ReminderDraft {
  const draft = { ...newReminder(), channels: [...reminder.channels] };
  if (reminder.at !== undefined)
    return { ...draft, kind: 'at', at: toZonedLocal(new Date(reminder.at), timeZone, true) };
  const minutes = reminder.offset_minutes ?? 0;
  const unit: ReminderUnit =
    minutes > 0 && minutes % 1440 === 0 ? 'days' : minutes > 0 && minutes % 60 === 0 ? 'hours' : 'minutes';
  return { ...draft, kind: 'before', amount: minutes / UNIT_MINUTES[unit], unit };
}

export function draftOf(task: Task): TaskDraft {
  return {
    title: task.title,
    description: task.description,
    priority: task.priority,
    tags: task.tags.join(', '),
    due: task.due_date ? toZonedLocal(new Date(task.due_date), task.time_zone) : '',
    timeZone: task.time_zone,
    recurrence: formOf(task.recurrence),
    reminders: task.reminders.map((r) => reminderDraftOf(r, task.time_zone)),
  };
}

export function parseTags(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    ),
  ];
}

/** The due date as an instant (ISO, UTC), or null. */
export function dueOf(draft: TaskDraft): string | null {
  return draft.due ? zonedToInstant(draft.due, draft.timeZone).toISOString() : null;
}

function reminderOf(draft: ReminderDraft, timeZone: string): Reminder {
  if (draft.kind === 'at') {
    return { at: zonedToInstant(draft.at, timeZone).toISOString(), channels: draft.channels };
  }
  return { offset_minutes: Math.round(draft.amount * UNIT_MINUTES[draft.unit]), channels: draft.channels };
}

/** What is wrong with the draft before it is sent (the server checks again). */
export function draftProblems(draft: TaskDraft): string[] {
  const problems: string[] = [];
  if (!draft.title.trim()) problems.push('Title: enter a title.');
  if (draft.recurrence.kind === 'custom' && !draft.recurrence.custom.trim())
    problems.push('Recurrence: enter a rule.');
  draft.reminders.forEach((r, i) => {
    const n = i + 1;
    if (r.channels.length === 0) problems.push(`Reminder ${n}: choose at least one channel.`);
    if (r.kind === 'at' && !r.at) problems.push(`Reminder ${n}: enter a time.`);
    if (r.kind === 'before' && !(Number.isFinite(r.amount) && r.amount >= 0))
      problems.push(`Reminder ${n}: enter how long before.`);
    if (r.kind === 'before' && !draft.due)
      problems.push(`Reminder ${n}: a reminder before the due date needs a due date.`);
  });
  return problems;
}

export function bodyOf(draft: TaskDraft): CreateTaskBody {
  return {
    title: draft.title.trim(),
    description: draft.description,
    priority: draft.priority,
    tags: parseTags(draft.tags),
    due_date: dueOf(draft),
    time_zone: draft.timeZone,
    recurrence: recurrenceOf(draft.recurrence),
    reminders: draft.reminders.map((r) => reminderOf(r, draft.timeZone)),
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const instant = (iso: string | null) => (iso === null ? null : new Date(iso).getTime());

/** The fields of `body` that differ from the task: the PATCH body (empty when nothing changed). */
export function changedFields(task: Task, body: CreateTaskBody): UpdateTaskBody {
  const fields: Record<string, unknown> = {};
  if (body.title !== task.title) fields.title = body.title;
  if (body.description !== task.description) fields.description = body.description;
  if (body.priority !== task.priority) fields.priority = body.priority;
  if (!same(body.tags, task.tags)) fields.tags = body.tags;
  if (instant(body.due_date) !== instant(task.due_date)) fields.due_date = body.due_date;
  if (body.time_zone !== task.time_zone) fields.time_zone = body.time_zone;
  const recurrence = (r: Task['recurrence']) =>
    r ? { rule: r.rule, anchor: r.anchor ?? 'due', month_end: r.month_end ?? 'skip' } : null;
  if (!same(recurrence(body.recurrence), recurrence(task.recurrence))) fields.recurrence = body.recurrence;
  const reminder = (r: Reminder) =>
    r.at !== undefined
      ? { at: instant(r.at), channels: r.channels }
      : { offset_minutes: r.offset_minutes, channels: r.channels };
  if (!same(body.reminders.map(reminder), task.reminders.map(reminder))) fields.reminders = body.reminders;
  return fields as UpdateTaskBody;
}
