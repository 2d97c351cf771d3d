import {
  nextOccurrence,
  parseRule,
  parseRuleSyntax,
  previewOccurrences,
  RecurrenceRuleError,
  shiftWithDue,
  validateRecurrenceForTask,
} from './index.js';

const preview = (
  rule: string,
  start: string,
  timeZone = 'UTC',
  count = 6,
  monthEnd: 'skip' | 'clamp' = 'skip',
) => previewOccurrences({ rule, start, timeZone, count, monthEnd });

const next = (
  rule: string,
  dueDate: string | null,
  opts: {
    completedAt?: string;
    anchor?: 'due' | 'completion';
    timeZone?: string;
    occurrence?: number;
    monthEnd?: 'skip' | 'clamp';
  } = {},
) =>
  nextOccurrence({
    recurrence: { rule, anchor: opts.anchor ?? 'due', month_end: opts.monthEnd },
    dueDate,
    completedAt: opts.completedAt ?? null,
    timeZone: opts.timeZone ?? 'UTC',
    occurrence: opts.occurrence ?? 1,
  });

describe('presets', () => {
  // 2026-06-05 is a Friday.
  it('daily', () => {
    expect(preview('daily', '2026-06-05T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-06T09:00:00+00:00',
      '2026-06-07T09:00:00+00:00',
    ]);
  });

  it('weekdays skips the weekend', () => {
    expect(preview('weekdays', '2026-06-05T09:00:00Z', 'UTC', 4)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-08T09:00:00+00:00',
      '2026-06-09T09:00:00+00:00',
      '2026-06-10T09:00:00+00:00',
    ]);
  });

  it('weekly repeats the start weekday; weekly:MO,WE the chosen days', () => {
    expect(preview('weekly', '2026-06-05T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-12T09:00:00+00:00',
      '2026-06-19T09:00:00+00:00',
    ]);
    expect(preview('weekly:MO,WE', '2026-06-05T09:00:00Z', 'UTC', 4)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-08T09:00:00+00:00',
      '2026-06-10T09:00:00+00:00',
      '2026-06-15T09:00:00+00:00',
    ]);
  });

  it('monthly:15 and monthly:2TU (second Tuesday), monthly:-1FR (last Friday)', () => {
    expect(preview('monthly:15', '2026-06-05T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-15T09:00:00+00:00',
      '2026-07-15T09:00:00+00:00',
    ]);
    expect(preview('monthly:2TU', '2026-06-09T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-09T09:00:00+00:00',
      '2026-07-14T09:00:00+00:00',
      '2026-08-11T09:00:00+00:00',
    ]);
    expect(preview('monthly:-1FR', '2026-06-26T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-26T09:00:00+00:00',
      '2026-07-31T09:00:00+00:00',
      '2026-08-28T09:00:00+00:00',
    ]);
  });

  it('yearly repeats the start date', () => {
    expect(preview('yearly', '2026-06-05T09:00:00Z', 'UTC', 2)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2027-06-05T09:00:00+00:00',
    ]);
  });

  it('presets are case-insensitive; a malformed preset argument is rejected', () => {
    expect(parseRuleSyntax('Weekly:mo,we')).toMatchObject({ ok: true });
    expect(parseRuleSyntax('weekly:XX')).toEqual({ ok: false, reason: 'unknown preset "weekly:XX"' });
    expect(parseRuleSyntax('monthly:')).toMatchObject({ ok: false });
  });
});

describe('RRULE', () => {
  it('accepts the RRULE: prefix, INTERVAL, BYDAY ordinals, negative BYMONTHDAY, BYSETPOS and BYMONTH', () => {
    expect(preview('RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU', '2026-06-02T08:00:00Z', 'UTC', 3)).toEqual([
      '2026-06-02T08:00:00+00:00',
      '2026-06-16T08:00:00+00:00',
      '2026-06-30T08:00:00+00:00',
    ]);
    // The second-to-last day of each month.
    expect(preview('FREQ=MONTHLY;BYMONTHDAY=-2', '2026-01-30T08:00:00Z', 'UTC', 3)).toEqual([
      '2026-01-30T08:00:00+00:00',
      '2026-02-27T08:00:00+00:00',
      '2026-03-30T08:00:00+00:00',
    ]);
    // The last working day of the month.
    expect(
      preview('FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1', '2026-01-30T17:00:00Z', 'UTC', 3),
    ).toEqual(['2026-01-30T17:00:00+00:00', '2026-02-27T17:00:00+00:00', '2026-03-31T17:00:00+00:00']);
    // Thanksgiving: the fourth Thursday of November.
    expect(
      preview('FREQ=YEARLY;BYMONTH=11;BYDAY=4TH', '2026-11-26T12:00:00-05:00', 'America/New_York', 3),
    ).toEqual(['2026-11-26T12:00:00-05:00', '2027-11-25T12:00:00-05:00', '2028-11-23T12:00:00-05:00']);
  });

  it('COUNT counts the first task, UNTIL includes its whole local day when it is a date', () => {
    expect(preview('FREQ=DAILY;COUNT=3', '2026-06-05T09:00:00Z', 'UTC', 10)).toHaveLength(3);
    expect(preview('FREQ=DAILY;UNTIL=20260607', '2026-06-05T22:00:00Z', 'Australia/Sydney', 10)).toEqual([
      '2026-06-06T08:00:00+10:00',
      '2026-06-07T08:00:00+10:00',
    ]);
  });

  it('a start the rule does not produce is still the first task (as DTSTART in RFC 5545)', () => {
    expect(preview('weekly:MO', '2026-06-05T09:00:00Z', 'UTC', 2)).toEqual([
      '2026-06-05T09:00:00+00:00',
      '2026-06-08T09:00:00+00:00',
    ]);
  });

  it('HOURLY counts elapsed hours across a DST change', () => {
    expect(preview('FREQ=HOURLY;INTERVAL=2', '2026-03-08T00:30:00-05:00', 'America/New_York', 3)).toEqual([
      '2026-03-08T00:30:00-05:00',
      '2026-03-08T03:30:00-04:00',
      '2026-03-08T05:30:00-04:00',
    ]);
  });

  it('a gap time that lands on another time of the rule is one occurrence, and the preview stays full', () => {
    // Sydney skips 02:00-03:00 on 2012-10-07: that day's 02:00 is due at 03:00, as is its 03:00.
    expect(
      preview('FREQ=DAILY;BYHOUR=2,3;BYMINUTE=0', '2012-10-06T02:00:00+10:00', 'Australia/Sydney', 4),
    ).toEqual([
      '2012-10-06T02:00:00+10:00',
      '2012-10-06T03:00:00+10:00',
      '2012-10-07T03:00:00+11:00',
      '2012-10-08T02:00:00+11:00',
    ]);
  });

  it('the next occurrence is the earliest instant even when a later local time of the rule passes a gap-moved one', () => {
    // New York skips 02:00-03:00 on 2026-03-08: 02:15 is due at 03:15, 02:45 at 03:45.
    const zone = { timeZone: 'America/New_York' };
    const rule = 'FREQ=DAILY;BYHOUR=2,3;BYMINUTE=45,15';
    expect(next(rule, '2026-03-07T03:45:00-05:00', zone)?.dueDate).toBe('2026-03-08T03:15:00-04:00');
    expect(next(rule, '2026-03-08T03:15:00-04:00', zone)?.dueDate).toBe('2026-03-08T03:45:00-04:00');
    expect(next(rule, '2026-03-08T03:45:00-04:00', zone)?.dueDate).toBe('2026-03-09T02:15:00-04:00');
  });

  it('MINUTELY in the repeated fall-back hour counts from the due instant, not its wall time', () => {
    // 01:08 happens twice on 2012-11-04 in New York; the second one (EST) is the due date.
    const zone = { timeZone: 'America/New_York' };
    expect(next('FREQ=MINUTELY;INTERVAL=16', '2012-11-04T01:08:00-05:00', zone)?.dueDate).toBe(
      '2012-11-04T01:24:00-05:00',
    );
    expect(preview('FREQ=MINUTELY;INTERVAL=16', '2012-11-04T01:52:00-05:00', zone.timeZone, 2)).toEqual([
      '2012-11-04T01:52:00-05:00',
      '2012-11-04T02:08:00-05:00',
    ]);
    expect(
      next('FREQ=HOURLY', null, { ...zone, anchor: 'completion', completedAt: '2012-11-04T01:30:00-05:00' })
        ?.dueDate,
    ).toBe('2012-11-04T02:30:00-05:00');
  });
});

describe('cron', () => {
  it('reads 5-field cron in the task time zone, with or without the cron: prefix', () => {
    const expected = ['2026-03-27T07:30:00+00:00', '2026-03-30T07:30:00+01:00', '2026-03-31T07:30:00+01:00'];
    expect(preview('cron:30 7 * * 1-5', '2026-03-27T07:30:00Z', 'Europe/London', 3)).toEqual(expected);
    expect(preview('30 7 * * 1-5', '2026-03-27T07:30:00Z', 'Europe/London', 3)).toEqual(expected);
  });

  it('accepts the last day of the month (L) and rejects other field counts', () => {
    expect(preview('0 18 L * *', '2026-02-28T18:00:00Z', 'UTC', 3)).toEqual([
      '2026-02-28T18:00:00+00:00',
      '2026-03-31T18:00:00+00:00',
      '2026-04-30T18:00:00+00:00',
    ]);
    expect(parseRuleSyntax('cron:0 0 9 * * 1')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/5 fields/),
    });
    expect(parseRuleSyntax('cron:* *')).toMatchObject({ ok: false });
  });

  it('the next task is the next slot after the due date (anchor due) or after the completion (anchor completion)', () => {
    expect(next('0 9 * * 1', '2026-06-01T09:00:00Z')?.dueDate).toBe('2026-06-08T09:00:00+00:00');
    expect(
      next('0 9 * * 1', '2026-06-01T09:00:00Z', { anchor: 'completion', completedAt: '2026-06-16T10:00:00Z' })
        ?.dueDate,
    ).toBe('2026-06-22T09:00:00+00:00');
  });
});

describe('month ends', () => {
  it('skip (RFC 5545): a day the month lacks is skipped', () => {
    expect(preview('monthly:31', '2026-01-31T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-01-31T09:00:00+00:00',
      '2026-03-31T09:00:00+00:00',
      '2026-05-31T09:00:00+00:00',
    ]);
    expect(preview('monthly', '2026-01-31T09:00:00Z', 'UTC', 2)).toEqual([
      '2026-01-31T09:00:00+00:00',
      '2026-03-31T09:00:00+00:00',
    ]);
    expect(preview('yearly', '2024-02-29T09:00:00Z', 'UTC', 2)).toEqual([
      '2024-02-29T09:00:00+00:00',
      '2028-02-29T09:00:00+00:00',
    ]);
  });

  it('clamp: the month last day instead', () => {
    expect(preview('monthly:31', '2026-01-31T09:00:00Z', 'UTC', 4, 'clamp')).toEqual([
      '2026-01-31T09:00:00+00:00',
      '2026-02-28T09:00:00+00:00',
      '2026-03-31T09:00:00+00:00',
      '2026-04-30T09:00:00+00:00',
    ]);
    expect(preview('monthly', '2026-01-31T09:00:00Z', 'UTC', 3, 'clamp')).toEqual([
      '2026-01-31T09:00:00+00:00',
      '2026-02-28T09:00:00+00:00',
      '2026-03-31T09:00:00+00:00',
    ]);
    expect(preview('yearly', '2024-02-29T09:00:00Z', 'UTC', 3, 'clamp')).toEqual([
      '2024-02-29T09:00:00+00:00',
      '2025-02-28T09:00:00+00:00',
      '2026-02-28T09:00:00+00:00',
    ]);
    // Two days clamped onto the same date give one task.
    expect(preview('FREQ=MONTHLY;BYMONTHDAY=30,31', '2026-01-30T09:00:00Z', 'UTC', 4, 'clamp')).toEqual([
      '2026-01-30T09:00:00+00:00',
      '2026-01-31T09:00:00+00:00',
      '2026-02-28T09:00:00+00:00',
      '2026-03-30T09:00:00+00:00',
    ]);
  });

  it('a negative day past the 28th clamps to the first day', () => {
    expect(preview('FREQ=MONTHLY;BYMONTHDAY=-31', '2026-01-01T09:00:00Z', 'UTC', 3)).toEqual([
      '2026-01-01T09:00:00+00:00',
      '2026-03-01T09:00:00+00:00',
      '2026-05-01T09:00:00+00:00',
    ]);
    expect(preview('FREQ=MONTHLY;BYMONTHDAY=-31', '2026-01-01T09:00:00Z', 'UTC', 3, 'clamp')).toEqual([
      '2026-01-01T09:00:00+00:00',
      '2026-02-01T09:00:00+00:00',
      '2026-03-01T09:00:00+00:00',
    ]);
  });

  it('a rule valid only with clamp is rejected with skip', () => {
    const rule = 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30';
    expect(parseRule(rule, { start: '2026-01-01T00:00:00Z', monthEnd: 'skip' })).toMatchObject({ ok: false });
    expect(preview(rule, '2026-01-01T09:00:00Z', 'UTC', 3, 'clamp')).toEqual([
      '2026-01-01T09:00:00+00:00',
      '2026-02-28T09:00:00+00:00',
      '2027-02-28T09:00:00+00:00',
    ]);
  });

  it('clamp cannot combine BYSETPOS with days past the 28th', () => {
    expect(
      parseRule('FREQ=MONTHLY;BYMONTHDAY=30,31;BYSETPOS=1', {
        start: '2026-01-01T00:00:00Z',
        monthEnd: 'clamp',
      }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/BYSETPOS/),
    });
  });
});

describe('bad rules', () => {
  const start = '2026-06-05T09:00:00Z';
  it.each([
    ['', /empty/],
    ['every other blue moon', /NAME=VALUE|unknown/],
    ['FREQ=FORTNIGHTLY', /not a frequency/],
    ['INTERVAL=2', /needs FREQ/],
    ['FREQ=DAILY;INTERVAL=0', /INTERVAL must be at least 1/],
    ['FREQ=DAILY;INTERVAL=-1', /INTERVAL must be a positive integer/],
    ['FREQ=DAILY;COUNT=0', /COUNT/],
    ['FREQ=DAILY;COUNT=5;UNTIL=20270101', /COUNT and UNTIL cannot be used together/],
    ['FREQ=DAILY;UNTIL=20260101', /UNTIL is before the start/],
    ['FREQ=DAILY;UNTIL=2026-12-01', /UNTIL must be a date/],
    ['FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', /never falls in BYMONTH/],
    ['FREQ=YEARLY;BYMONTH=4,6,9,11;BYMONTHDAY=31', /never falls in BYMONTH/],
    ['FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=3', /BYSETPOS=3 is beyond/],
    ['FREQ=WEEKLY;BYDAY=2MO', /BYDAY with numeric value/],
    ['FREQ=MONTHLY;BYMONTHDAY=32', /BYMONTHDAY values/],
    ['FREQ=MONTHLY;BYMONTHDAY=0', /BYMONTHDAY values/],
    ['FREQ=DAILY;BYHOUR=24', /BYHOUR values/],
    ['FREQ=SECONDLY', /SECONDLY is not supported/],
    ['FREQ=DAILY;BYSECOND=5', /BYSECOND/],
    ['FREQ=DAILY;DTSTART=20260101T000000Z', /DTSTART/],
    ['FREQ=DAILY;FREQ=WEEKLY', /appears twice/],
    ['FREQ=DAILY;X-NAME=1', /unknown rule part/],
    ['FREQ=MONTHLY;RSCALE=GREGORIAN;SKIP=BACKWARD', /use month_end/],
    ['FREQ=DAILY;INTERVAL=1001', /at most 1000/],
    ['cron:0 9 30 2 *', /./],
    ['cron:61 9 * * *', /./],
    ['FREQ=DAILY;\nFREQ=WEEKLY', /single RRULE line|NAME=VALUE/],
    // Impossible only by search (no static check knows these combinations): day 1 of the year
    // is never in February, ISO week 1 never in July.
    ['FREQ=YEARLY;BYMONTH=2;BYYEARDAY=1', /no occurrence within 50 years/],
    ['FREQ=YEARLY;BYWEEKNO=1;BYMONTH=7', /no occurrence within 50 years/],
    ['FREQ=MINUTELY;BYMONTH=2;BYYEARDAY=1', /no occurrence within 366 days/],
  ])('%j is rejected with a reason', (rule, reason) => {
    const result = parseRule(rule, { start, timeZone: 'UTC' });
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
    expect(() => preview(rule, start)).toThrow(RecurrenceRuleError);
  });

  it('an unknown time zone is rejected', () => {
    expect(parseRule('daily', { start, timeZone: 'Mars/Olympus_Mons' })).toEqual({
      ok: false,
      reason: 'unknown time zone "Mars/Olympus_Mons"',
    });
  });

  it('rules that search long and find nothing end with the right outcome, all within 30 s (a hang guard, not a benchmark)', () => {
    const start = '2025-03-01T00:00:00Z'; // 2025-02-28 19:00 in New York
    const never = /no occurrence within 50 years/;
    const slow: [string, RegExp | string[]][] = [
      [
        'FREQ=DAILY;BYSETPOS=3;BYMINUTE=0,30;BYHOUR=9;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO',
        /BYSETPOS=3 is beyond/,
      ],
      [
        'FREQ=WEEKLY;BYMONTH=2;BYDAY=MO;BYHOUR=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29;BYSETPOS=366',
        never,
      ],
      ['FREQ=YEARLY;BYWEEKNO=43;BYMONTH=8,1;BYMINUTE=3,23,36;BYYEARDAY=341,215,-246', never],
      // Feb 29 on a Monday comes in 2044, past the 366 days a MINUTELY rule searches.
      ['FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=3;BYMINUTE=7', /no occurrence within 366 days/],
      // The same days as a DAILY rule: found, 19 and 47 years on.
      [
        'FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO',
        ['2025-02-28T19:00:00-05:00', '2044-02-29T19:00:00-05:00', '2072-02-29T19:00:00-05:00'],
      ],
    ];
    const started = Date.now();
    for (const [rule, outcome] of slow) {
      const parsed = parseRule(rule, { start, timeZone: 'America/New_York' });
      if (Array.isArray(outcome)) {
        expect(parsed.ok).toBe(true);
        expect(preview(rule, start, 'America/New_York', 100)).toEqual(outcome);
      } else {
        expect(parsed).toMatchObject({ ok: false, reason: expect.stringMatching(outcome) });
        expect(() => preview(rule, start, 'America/New_York', 100)).toThrow(outcome);
      }
    }
    // A lost bound would take minutes; the time this takes is in ADR 0005 (seconds, more on a
    // machine whose cores are shared).
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('nextOccurrence', () => {
  it('anchor due keeps the schedule whenever the task is completed', () => {
    expect(next('daily', '2026-06-05T09:00:00Z', { completedAt: '2026-06-09T18:00:00Z' })).toEqual({
      dueDate: '2026-06-06T09:00:00+00:00',
      local: '2026-06-06T09:00:00',
      shifted: false,
      occurrence: 2,
    });
    expect(
      next('FREQ=WEEKLY;INTERVAL=2', '2026-06-05T09:00:00Z', { completedAt: '2026-06-04T18:00:00Z' })
        ?.dueDate,
    ).toBe('2026-06-19T09:00:00+00:00');
  });

  it('anchor completion counts from the completion day, at the series time, never before the current due date', () => {
    // Due Friday 09:00, done the next Tuesday at 18:00: due Wednesday 09:00.
    expect(
      next('daily', '2026-06-05T09:00:00Z', { anchor: 'completion', completedAt: '2026-06-09T18:00:00Z' })
        ?.dueDate,
    ).toBe('2026-06-10T09:00:00+00:00');
    // Every two weeks, done on Thursday 11 June: due Thursday 25 June.
    expect(
      next('FREQ=WEEKLY;INTERVAL=2', '2026-06-05T09:00:00Z', {
        anchor: 'completion',
        completedAt: '2026-06-11T07:00:00Z',
      })?.dueDate,
    ).toBe('2026-06-25T09:00:00+00:00');
    // Done early (Wednesday for Friday): not Thursday, which would come before the current due date.
    expect(
      next('daily', '2026-06-05T09:00:00Z', { anchor: 'completion', completedAt: '2026-06-03T12:00:00Z' })
        ?.dueDate,
    ).toBe('2026-06-06T09:00:00+00:00');
    // Without a due date: from the completion time itself.
    expect(next('daily', null, { completedAt: '2026-06-03T12:15:00Z' })?.dueDate).toBe(
      '2026-06-04T12:15:00+00:00',
    );
  });

  it('the completion day is the local one', () => {
    // 23:30 on Tuesday in New York is already Wednesday in UTC.
    const due = '2026-06-08T13:00:00Z'; // Monday 09:00 EDT
    expect(
      next('daily', due, {
        anchor: 'completion',
        completedAt: '2026-06-10T03:30:00Z',
        timeZone: 'America/New_York',
      })?.dueDate,
    ).toBe('2026-06-10T09:00:00-04:00');
  });

  it('an ended series gives null: the COUNT-th task, or the next date past UNTIL', () => {
    expect(next('FREQ=DAILY;COUNT=3', '2026-06-07T09:00:00Z', { occurrence: 3 })).toBeNull();
    expect(next('FREQ=DAILY;COUNT=3', '2026-06-06T09:00:00Z', { occurrence: 2 })?.occurrence).toBe(3);
    expect(next('FREQ=DAILY;UNTIL=20260607T090000Z', '2026-06-07T09:00:00Z')).toBeNull();
    expect(next('FREQ=DAILY;UNTIL=20260607T090000Z', '2026-06-06T09:00:00Z')?.dueDate).toBe(
      '2026-06-07T09:00:00+00:00',
    );
  });

  it('keeps 09:00 local across DST in both directions', () => {
    expect(next('daily', '2026-03-28T09:00:00Z', { timeZone: 'Europe/London' })?.dueDate).toBe(
      '2026-03-29T09:00:00+01:00',
    );
    expect(next('daily', '2026-10-24T08:00:00Z', { timeZone: 'Europe/London' })?.dueDate).toBe(
      '2026-10-25T09:00:00+00:00',
    );
    expect(next('weekly', '2026-03-31T22:00:00Z', { timeZone: 'Australia/Sydney' })?.dueDate).toBe(
      '2026-04-08T09:00:00+10:00',
    );
  });

  it('a time a DST change skips is due just after the gap, and the series goes on at the asked time', () => {
    const gapDay = next('daily', '2026-03-07T07:30:00Z', { timeZone: 'America/New_York' }); // Sat 02:30 EST
    expect(gapDay).toEqual({
      dueDate: '2026-03-08T03:30:00-04:00',
      local: '2026-03-08T02:30:00',
      shifted: true,
      occurrence: 2,
    });
    const after = nextOccurrence({
      recurrence: { rule: 'daily' },
      dueDate: gapDay!.dueDate,
      completedAt: null,
      timeZone: 'America/New_York',
      occurrence: 2,
      dueLocal: gapDay!.local,
    });
    expect(after?.dueDate).toBe('2026-03-09T02:30:00-04:00');
    // A hint that no longer names the due date (the user moved the task) is ignored.
    const moved = nextOccurrence({
      recurrence: { rule: 'daily' },
      dueDate: '2026-03-08T15:00:00-04:00',
      completedAt: null,
      timeZone: 'America/New_York',
      occurrence: 2,
      dueLocal: gapDay!.local,
    });
    expect(moved?.dueDate).toBe('2026-03-09T15:00:00-04:00');
  });
});

describe('validateRecurrenceForTask', () => {
  const task = { due_date: '2026-06-05T09:00:00Z', time_zone: 'Europe/Paris', occurrence: 1 };
  it('accepts no recurrence and good rules', () => {
    expect(() => validateRecurrenceForTask({ ...task, recurrence: null })).not.toThrow();
    expect(() =>
      validateRecurrenceForTask({ ...task, recurrence: { rule: 'weekly:MO,WE', anchor: 'due' } }),
    ).not.toThrow();
    expect(() =>
      validateRecurrenceForTask({
        ...task,
        due_date: null,
        recurrence: { rule: 'daily', anchor: 'completion' },
      }),
    ).not.toThrow();
  });

  it('throws RecurrenceRuleError with the reason', () => {
    expect(() =>
      validateRecurrenceForTask({ ...task, recurrence: { rule: 'FREQ=DAILY;INTERVAL=0' } }),
    ).toThrow(new RecurrenceRuleError('INTERVAL must be at least 1'));
    expect(() =>
      validateRecurrenceForTask({ ...task, recurrence: { rule: 'FREQ=DAILY;UNTIL=20260601' } }),
    ).toThrow(/UNTIL is before/);
    expect(() =>
      validateRecurrenceForTask({ ...task, time_zone: 'Nowhere/Land', recurrence: { rule: 'daily' } }),
    ).toThrow(/time zone/);
  });

  it('rejects a COUNT the series has already passed', () => {
    expect(() =>
      validateRecurrenceForTask({ ...task, occurrence: 3, recurrence: { rule: 'FREQ=DAILY;COUNT=3' } }),
    ).not.toThrow();
    expect(() =>
      validateRecurrenceForTask({ ...task, occurrence: 4, recurrence: { rule: 'FREQ=DAILY;COUNT=3' } }),
    ).toThrow(/COUNT=3 is already passed/);
  });
});

describe('shiftWithDue', () => {
  it('keeps a reminder the same local distance from the due date, across DST', () => {
    expect(
      shiftWithDue({
        at: '2026-03-27T20:00:00Z', // Friday 20:00 GMT, the evening before a Saturday 09:00 task
        dueDate: '2026-03-28T09:00:00Z',
        nextDueDate: '2026-03-29T09:00:00+01:00',
        timeZone: 'Europe/London',
      }),
    ).toBe('2026-03-28T20:00:00+00:00');
    expect(
      shiftWithDue({
        at: '2026-03-28T20:00:00Z',
        dueDate: '2026-03-29T08:00:00Z',
        nextDueDate: '2026-03-30T09:00:00+01:00',
        timeZone: 'Europe/London',
      }),
    ).toBe('2026-03-29T20:00:00+01:00');
  });
});
