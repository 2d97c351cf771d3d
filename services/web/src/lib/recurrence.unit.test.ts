import {
  describeRule,
  emptyRecurrence,
  formOf,
  RECURRENCE_KINDS,
  recurrenceOf,
  ruleOf,
} from './recurrence.js';

describe('recurrence presets', () => {
  it('turns each choice of the form into the rule string services/recurring reads', () => {
    const form = emptyRecurrence();
    expect(ruleOf(form)).toBeNull();
    expect(ruleOf({ ...form, kind: 'weekdays' })).toBe('weekdays');
    expect(ruleOf({ ...form, kind: 'weekly-days', days: ['FR', 'MO'] })).toBe('weekly:MO,FR');
    expect(ruleOf({ ...form, kind: 'weekly-days', days: [] })).toBe('weekly');
    expect(ruleOf({ ...form, kind: 'monthly-day', monthDay: -1 })).toBe('monthly:-1');
    expect(ruleOf({ ...form, kind: 'monthly-nth', nth: 2, nthDay: 'TU' })).toBe('monthly:2TU');
    expect(ruleOf({ ...form, kind: 'custom', custom: '  FREQ=DAILY;INTERVAL=3 ' })).toBe(
      'FREQ=DAILY;INTERVAL=3',
    );
    expect(recurrenceOf({ ...form, kind: 'daily', anchor: 'completion', monthEnd: 'clamp' })).toEqual({
      rule: 'daily',
      anchor: 'completion',
      month_end: 'clamp',
    });
  });

  it('reads every preset back into the same choice (round trip)', () => {
    for (const { kind } of RECURRENCE_KINDS) {
      if (kind === 'none') continue;
      const form = {
        ...emptyRecurrence(),
        kind,
        days: ['TU' as const, 'TH' as const],
        monthDay: 15,
        nth: -1,
        nthDay: 'FR' as const,
      };
      const recurrence = recurrenceOf(form)!;
      const back = formOf(recurrence);
      expect(ruleOf(back)).toBe(recurrence.rule);
    }
  });

  it('treats anything else as a custom rule', () => {
    expect(formOf({ rule: 'cron:0 9 * * 1-5', anchor: 'due' })).toMatchObject({
      kind: 'custom',
      custom: 'cron:0 9 * * 1-5',
    });
    expect(formOf({ rule: 'monthly:32', anchor: 'due' }).kind).toBe('custom');
    expect(formOf(null).kind).toBe('none');
  });

  it('describes rules for the list', () => {
    expect(describeRule('DAILY')).toBe('Every day');
    expect(describeRule('weekly:MO,WE')).toBe('Weekly on Mon, Wed');
    expect(describeRule('monthly:-1FR')).toBe('Monthly on the last Friday');
    expect(describeRule('monthly:-1')).toBe('Monthly on the last day');
    expect(describeRule('FREQ=YEARLY;BYMONTH=2')).toBe('FREQ=YEARLY;BYMONTH=2');
  });
});
