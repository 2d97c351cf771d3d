import { z } from 'zod';
import { Cursor, DateTime, Limit, page, StoredText, TimeZone } from './common.js';

export const TaskStatus = z.enum(['pending', 'completed']);
export const Priority = z.enum(['high', 'medium', 'low']);
export const Channel = z.enum(['email', 'push', 'in_app']);
export type Channel = z.infer<typeof Channel>;

/**
 * `rule` is a preset (daily, weekdays, weekly:MO,WE, monthly:15, monthly:2TU, yearly),
 * an RFC 5545 RRULE, or a 5-field cron expression; packages/recurrence validates it. That grammar
 * is more than a pattern can say, so the document names it as the format `recurrence-rule`
 * (scripts/fuzz/hooks.py teaches the fuzzer to write such rules).
 */
export const RecurrenceRule = StoredText()
  .trim()
  .min(1)
  .max(500)
  .meta({
    format: 'recurrence-rule',
    description:
      'a preset (`daily`, `weekdays`, `weekly`, `weekly:MO,WE`, `monthly`, `monthly:15`, `monthly:-1`, `monthly:2TU`, `yearly`), an RFC 5545 RRULE (`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO`, optionally prefixed `RRULE:`; no DTSTART, SECONDLY or BYSECOND), or a 5-field cron expression (`0 9 * * 1-5`, optionally prefixed `cron:`); see docs/adr/0005-recurrence-rules.md. Anything else, or a rule that can never produce an occurrence, is refused (400)',
    examples: ['weekdays', 'monthly:-1', 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH', '0 9 * * 1-5'],
  });

export const Recurrence = z
  .strictObject({
    rule: RecurrenceRule,
    anchor: z.enum(['due', 'completion']).default('due'),
    month_end: z.enum(['skip', 'clamp']).default('skip').optional(),
  })
  .meta({ id: 'Recurrence' });
export type Recurrence = z.infer<typeof Recurrence>;

export const Reminder = z
  .strictObject({
    offset_minutes: z.number().int().min(0).max(525600).optional(),
    at: DateTime.optional(),
    channels: z.array(Channel).min(1).max(3).default(['in_app']),
  })
  .refine((r) => (r.offset_minutes === undefined) !== (r.at === undefined), {
    message: 'a reminder has exactly one of offset_minutes or at',
  })
  // The refinement above, as JSON Schema says it (each branch names its property, as strict
  // validators such as ajv's want a required property declared beside it).
  .meta({
    id: 'Reminder',
    oneOf: [
      { properties: { offset_minutes: true }, required: ['offset_minutes'] },
      { properties: { at: true }, required: ['at'] },
    ],
  });
export type Reminder = z.infer<typeof Reminder>;

const Title = StoredText().trim().min(1, 'title must not be empty').max(500);
const Description = StoredText().max(10000);
// A tag is trimmed, so it needs one character that is not white space.
const Tags = z.array(StoredText().trim().min(1).max(50).regex(/\S/)).max(20);

export const Task = z
  .object({
    id: z.uuid(),
    user_id: z.uuid(),
    title: z.string(),
    description: z.string(),
    status: TaskStatus,
    priority: Priority,
    tags: z.array(z.string()),
    due_date: DateTime.nullable(),
    time_zone: z.string(),
    recurrence: Recurrence.nullable(),
    reminders: z.array(Reminder),
    series_id: z.uuid().nullable(),
    occurrence: z.number().int(),
    version: z.number().int(),
    created_at: DateTime,
    updated_at: DateTime,
    completed_at: DateTime.nullable(),
  })
  .meta({ id: 'Task' });
export type Task = z.infer<typeof Task>;

export const CreateTaskBody = z
  .strictObject({
    title: Title,
    description: Description.default(''),
    priority: Priority.default('medium'),
    tags: Tags.default([]),
    due_date: DateTime.nullable().default(null),
    time_zone: TimeZone.default('UTC'),
    recurrence: Recurrence.nullable().default(null),
    reminders: z.array(Reminder).max(10).default([]),
  })
  .meta({ id: 'CreateTaskBody' });
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const UpdateTaskBody = z
  .strictObject({
    title: Title.optional(),
    description: Description.optional(),
    priority: Priority.optional(),
    tags: Tags.optional(),
    due_date: DateTime.nullable().optional(),
    time_zone: TimeZone.optional(),
    recurrence: Recurrence.nullable().optional(),
    reminders: z.array(Reminder).max(10).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' })
  .meta({ id: 'UpdateTaskBody', minProperties: 1 });
export type UpdateTaskBody = z.infer<typeof UpdateTaskBody>;

export const TaskSort = z.enum([
  'created_at',
  '-created_at',
  'updated_at',
  '-updated_at',
  'due_date',
  '-due_date',
  'priority',
  '-priority',
  'title',
  '-title',
]);
export type TaskSort = z.infer<typeof TaskSort>;

export const ListTasksQuery = z
  .strictObject({
    status: TaskStatus.optional(),
    priority: Priority.optional(),
    tag: StoredText().max(50).optional(),
    q: StoredText().max(200).optional(),
    due_before: DateTime.optional(),
    due_after: DateTime.optional(),
    sort: TaskSort.default('-created_at'),
    cursor: Cursor.optional(),
    limit: Limit.default(50),
  })
  .meta({ id: 'ListTasksQuery' });
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const TaskPage = page(Task).meta({ id: 'TaskPage' });
export type TaskPage = z.infer<typeof TaskPage>;

/**
 * The next occurrence of a series, created by the recurring service through service invocation
 * (`POST /internal/tasks` on task-api). The id is derived from the series and occurrence number,
 * so a repeated call returns the same task instead of creating another.
 */
export const CreateOccurrenceBody = CreateTaskBody.extend({
  id: z.uuid(),
  user_id: z.uuid(),
  series_id: z.uuid(),
  occurrence: z.number().int().min(2),
}).meta({ id: 'CreateOccurrenceBody' });
export type CreateOccurrenceBody = z.infer<typeof CreateOccurrenceBody>;
