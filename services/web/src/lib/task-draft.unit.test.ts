import type { Task } from '../types.js';
import { emptyRecurrence } from './recurrence.js';
import {
  bodyOf,
  changedFields,
  draftOf,
  draftProblems,
  emptyDraft,
  newReminder,
  parseTags,
} from './task-draft.js';

const base: Task = {
  id: '0190a000-0000-7000-8000-000000000001',
  user_id: '0190a000-0000-7000-8000-aaaaaaaaaaaa',
  title: 'Pay rent',
  description: 'by transfer',
  status: 'pending',
  priority: 'high',
  tags: ['home', 'money'],
  due_date: '2026-12-01T08:00:00.000Z',
  time_zone: 'Europe/Berlin',
  recurrence: { rule: 'monthly:1', anchor: 'due', month_end: 'skip' },
  reminders: [
    { offset_minutes: 1440, channels: ['email'] },
    { at: '2026-11-30T17:00:00.000Z', channels: ['in_app', 'push'] },
  ],
  series_id: '0190a000-0000-7000-8000-000000000001',
  occurrence: 3,
  version: 4,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  completed_at: null,
};

describe('the task form draft', () => {
  it('shows a task in its own zone and sends it back unchanged', () => {
    const draft = draftOf(base);
    expect(draft).toMatchObject({ due: '2026-12-01T09:00', timeZone: 'Europe/Berlin', tags: 'home, money' });
    expect(draft.recurrence).toMatchObject({ kind: 'monthly-day', monthDay: 1 });
    expect(draft.reminders[0]).toMatchObject({ kind: 'before', amount: 1, unit: 'days' });
    expect(draft.reminders[1]).toMatchObject({ kind: 'at', at: '2026-11-30T18:00:00' });
    expect(changedFields(base, bodyOf(draft))).toEqual({});
  });

  it('sends only what changed', () => {
    const draft = { ...draftOf(base), title: 'Pay the rent', timeZone: 'America/New_York' };
    // Same wall-clock time in another zone: both the zone and the instant change.
    expect(changedFields(base, bodyOf(draft))).toEqual({
      title: 'Pay the rent',
      time_zone: 'America/New_York',
      due_date: '2026-12-01T14:00:00.000Z',
      reminders: [
        { offset_minutes: 1440, channels: ['email'] },
        { at: '2026-11-30T23:00:00.000Z', channels: ['in_app', 'push'] },
      ],
    });
    const noRepeat = { ...draftOf(base), recurrence: emptyRecurrence() };
    expect(changedFields(base, bodyOf(noRepeat))).toEqual({ recurrence: null });
  });

  it('builds a create body', () => {
    const draft = {
      ...emptyDraft('UTC'),
      title: '  Call mum ',
      tags: 'family, , family,phone',
      due: '2026-05-10T18:30',
    };
    draft.reminders = [{ ...newReminder(), amount: 2, unit: 'hours' }];
    expect(bodyOf(draft)).toEqual({
      title: 'Call mum',
      description: '',
      priority: 'medium',
      tags: ['family', 'phone'],
      due_date: '2026-05-10T18:30:00.000Z',
      time_zone: 'UTC',
      recurrence: null,
      reminders: [{ offset_minutes: 120, channels: ['in_app'] }],
    });
    expect(parseTags(' a,b ,a,')).toEqual(['a', 'b']);
  });

  it('names what is missing before sending', () => {
    const draft = {
      ...emptyDraft('UTC'),
      reminders: [
        { ...newReminder(), channels: [] },
        { ...newReminder(), kind: 'at' as const },
      ],
    };
    expect(draftProblems(draft)).toEqual([
      'Title: enter a title.',
      'Reminder 1: choose at least one channel.',
      'Reminder 1: a reminder before the due date needs a due date.',
      'Reminder 2: enter a time.',
    ]);
  });
});
