import { dataschemaFor, InvalidEventError, type Task } from '@taskstream/contracts';
import { completedTaskOf, nextTaskOf, occurrenceTaskId } from './completion.js';

const task: Task = {
  id: '0190f5c2-7b3a-7cc1-8f1e-000000000001',
  user_id: '0190f5c2-7b3a-7cc1-8f1e-0000000000aa',
  title: 'Pay rent',
  description: 'standing order check',
  status: 'completed',
  priority: 'high',
  tags: ['money'],
  due_date: '2026-01-31T09:00:00.000Z',
  time_zone: 'Europe/Berlin',
  recurrence: { rule: 'monthly', anchor: 'due', month_end: 'clamp' },
  reminders: [
    { offset_minutes: 60, channels: ['email'] },
    { at: '2026-01-30T17:00:00.000Z', channels: ['push'] },
  ],
  series_id: '0190f5c2-7b3a-7cc1-8f1e-000000000001',
  occurrence: 1,
  version: 2,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-31T10:00:00.000Z',
  completed_at: '2026-01-31T10:00:00.000Z',
};

const event = (type: string, t: unknown = task) => ({
  specversion: '1.0' as const,
  id: '0190f5c2-7b3a-7cc1-8f1e-5a1b2c3d4e5f',
  type: `com.taskstream.${type}`,
  source: 'task-api',
  time: '2026-01-31T10:00:00.000Z',
  subject: task.id,
  datacontenttype: 'application/json',
  dataschema: dataschemaFor('task.completed'),
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  data: {
    user_id: task.user_id,
    task_id: task.id,
    sequence: 3,
    task_version: 2,
    idempotency_key: 'k',
    payload: { task: t },
    changed_fields: ['status'],
  },
});

describe('occurrenceTaskId', () => {
  it('is a UUIDv5 fixed by the series and the occurrence number', () => {
    const id = occurrenceTaskId(task.id, 2);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(occurrenceTaskId(task.id, 2)).toBe(id);
    expect(occurrenceTaskId(task.id, 3)).not.toBe(id);
    expect(occurrenceTaskId('0190f5c2-7b3a-7cc1-8f1e-000000000002', 2)).not.toBe(id);
  });
});

describe('completedTaskOf', () => {
  it('reads the task of a task.completed event and ignores other types', () => {
    expect(completedTaskOf(event('task.completed'))).toEqual(task);
    expect(completedTaskOf(event('task.updated'))).toBeUndefined();
    expect(completedTaskOf(event('reminder.scheduled'))).toBeUndefined();
  });

  it('throws naming the broken field', () => {
    expect(() => completedTaskOf(event('task.completed', { ...task, occurrence: 'two' }))).toThrow(
      InvalidEventError,
    );
    expect(() => completedTaskOf(event('task.completed', { ...task, occurrence: 'two' }))).toThrow(
      /data\.payload\.task\.occurrence/,
    );
  });
});

describe('nextTaskOf', () => {
  it('copies the task onto the next due date with the series id and the next occurrence number', () => {
    const planned = nextTaskOf(task)!;
    expect(planned.body).toEqual({
      id: occurrenceTaskId(task.id, 2),
      user_id: task.user_id,
      title: 'Pay rent',
      description: 'standing order check',
      priority: 'high',
      tags: ['money'],
      due_date: '2026-02-28T10:00:00+01:00', // clamped to the end of February, 10:00 in Berlin
      time_zone: 'Europe/Berlin',
      recurrence: task.recurrence,
      reminders: [
        { offset_minutes: 60, channels: ['email'] },
        { at: '2026-02-27T18:00:00+01:00', channels: ['push'] },
      ],
      series_id: task.id,
      occurrence: 2,
    });
  });

  it('uses the task id as the series of a task without one, and null ends the series', () => {
    expect(nextTaskOf({ ...task, series_id: null })!.body.series_id).toBe(task.id);
    expect(nextTaskOf({ ...task, recurrence: { rule: 'FREQ=MONTHLY;COUNT=1', anchor: 'due' } })).toBeNull();
    expect(nextTaskOf({ ...task, recurrence: null })).toBeNull();
  });
});
