/**
 * Properties of the recurrence engine over generated rules, starts and time zones (fast-check).
 * Starts are drawn as local date-times, often in the small hours of DST-change days, in the zones
 * the product promises to handle: Europe/London, America/New_York, Australia/Sydney (southern
 * hemisphere), Asia/Kolkata (no DST, half-hour offset) and America/Sao_Paulo (DST until 2019).
 */
import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { nextOccurrence, parseRule, previewOccurrences } from './index.js';

const ZONES = [
  'Europe/London',
  'America/New_York',
  'Australia/Sydney',
  'Asia/Kolkata',
  'America/Sao_Paulo',
] as const;
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;
const RUNS = { numRuns: 100 };

/** Local date-times around DST changes: the 2nd-4th week of the change months, any hour. */
const localStart = fc
  .record({
    year: fc.integer({ min: 2012, max: 2032 }),
    month: fc.constantFrom(2, 3, 4, 9, 10, 11, 1, 6),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 23 })),
    minute: fc.constantFrom(0, 15, 30, 45),
  })
  .map((f) => Temporal.PlainDateTime.from(f));

const zonedStart = fc.record({ zone: fc.constantFrom(...ZONES), wall: localStart }).map(({ zone, wall }) => {
  const start = wall.toZonedDateTime(zone, { disambiguation: 'compatible' });
  return { zone, start, iso: start.toInstant().toString() };
});

const weekdayList = fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1, maxLength: 4 });
const monthDay = fc.oneof(fc.integer({ min: 1, max: 31 }), fc.integer({ min: -31, max: -1 }));

/** Rules of a day or coarser, with no time-of-day parts: each keeps the start's local time. */
const calendarRule = fc.oneof(
  fc.constantFrom('daily', 'weekdays', 'weekly', 'monthly', 'yearly'),
  weekdayList.map((d) => `weekly:${d.join(',')}`),
  fc.integer({ min: 1, max: 28 }).map((d) => `monthly:${d}`),
  fc.tuple(fc.constantFrom(1, 2, 3, 4, -1), fc.constantFrom(...WEEKDAYS)).map(([n, d]) => `monthly:${n}${d}`),
  fc
    .tuple(fc.constantFrom('DAILY', 'WEEKLY'), fc.integer({ min: 1, max: 4 }))
    .map(([f, i]) => `FREQ=${f};INTERVAL=${i}`),
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), weekdayList)
    .map(([i, d]) => `FREQ=WEEKLY;INTERVAL=${i};BYDAY=${d.join(',')}`),
  fc
    .uniqueArray(monthDay, { minLength: 1, maxLength: 3 })
    .map((d) => `FREQ=MONTHLY;BYMONTHDAY=${d.join(',')}`),
  fc
    .tuple(weekdayList, fc.constantFrom(1, 2, -1))
    .map(([d, p]) => `FREQ=MONTHLY;BYDAY=${d.join(',')};BYSETPOS=${p}`),
  fc
    .tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }))
    .map(([m, d]) => `FREQ=YEARLY;BYMONTH=${m};BYMONTHDAY=${d}`),
  fc
    .tuple(fc.integer({ min: 1, max: 12 }), fc.constantFrom(1, 2, -1), fc.constantFrom(...WEEKDAYS))
    .map(([m, n, d]) => `FREQ=YEARLY;BYMONTH=${m};BYDAY=${n}${d}`),
);

/** Any rule kind, including sub-daily and cron. */
const anyRule = fc.oneof(
  calendarRule,
  fc
    .tuple(
      fc.integer({ min: 0, max: 59 }),
      fc.integer({ min: 0, max: 23 }),
      fc.constantFrom('*', '1-5', '0,6', '1'),
    )
    .map(([m, h, dow]) => `cron:${m} ${h} * * ${dow}`),
  fc
    .tuple(fc.constantFrom('HOURLY', 'MINUTELY'), fc.integer({ min: 1, max: 180 }))
    .map(([f, i]) => `FREQ=${f};INTERVAL=${i}`),
  fc
    .uniqueArray(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 3 })
    .map((h) => `FREQ=DAILY;BYHOUR=${h.join(',')};BYMINUTE=0`),
);

const monthEnd = fc.constantFrom('skip' as const, 'clamp' as const);
const ms = (iso: string) => Date.parse(iso);

/** The series' due dates as the recurring service makes them: one nextOccurrence per completion. */
function chain(
  rule: string,
  zone: string,
  startIso: string,
  monthEndValue: 'skip' | 'clamp',
  max: number,
): string[] {
  const out = [Temporal.Instant.from(startIso).toZonedDateTimeISO(zone).toString({ timeZoneName: 'never' })];
  let due = startIso;
  let local: string | undefined;
  for (let occurrence = 1; occurrence < max; occurrence++) {
    const next = nextOccurrence({
      recurrence: { rule, anchor: 'due', month_end: monthEndValue },
      dueDate: due,
      completedAt: null,
      timeZone: zone,
      occurrence,
      dueLocal: local,
    });
    if (!next) break;
    out.push(next.dueDate);
    due = next.dueDate;
    local = next.local;
  }
  return out;
}

/** True when `at` is the start's local time of day on its own date, or where that time lands in a DST gap. */
function keepsLocalTime(at: string, zone: string, time: Temporal.PlainTime): boolean {
  const z = Temporal.ZonedDateTime.from(`${at}[${zone}]`);
  if (z.toPlainTime().equals(time)) return true;
  // The wanted time does not exist that day: it is due at the instant `compatible` gives it.
  for (const date of [z.toPlainDate(), z.toPlainDate().subtract({ days: 1 })]) {
    const wanted = date.toPlainDateTime(time);
    const placed = wanted.toZonedDateTime(zone, { disambiguation: 'compatible' });
    if (!placed.toPlainDateTime().equals(wanted) && placed.toInstant().equals(z.toInstant())) return true;
  }
  return false;
}

describe('recurrence properties', () => {
  it('a preview starts at the start and strictly increases', () => {
    fc.assert(
      fc.property(anyRule, zonedStart, monthEnd, (rule, { zone, iso }, me) => {
        fc.pre(parseRule(rule, { start: iso, timeZone: zone, monthEnd: me }).ok);
        const list = previewOccurrences({ rule, start: iso, timeZone: zone, monthEnd: me, count: 25 });
        expect(list.length).toBeGreaterThanOrEqual(1);
        expect(ms(list[0]!)).toBe(ms(iso));
        for (let i = 1; i < list.length; i++) expect(ms(list[i]!)).toBeGreaterThan(ms(list[i - 1]!));
        for (const at of list) expect(ms(at)).toBeGreaterThanOrEqual(ms(iso));
      }),
      RUNS,
    );
  });

  it('the series made one completion at a time is the preview (anchor due), across DST', () => {
    fc.assert(
      fc.property(anyRule, zonedStart, monthEnd, (rule, { zone, iso }, me) => {
        fc.pre(parseRule(rule, { start: iso, timeZone: zone, monthEnd: me }).ok);
        const preview = previewOccurrences({ rule, start: iso, timeZone: zone, monthEnd: me, count: 12 });
        expect(chain(rule, zone, iso, me, 12)).toEqual(preview);
      }),
      { numRuns: 60 },
    );
  });

  it('COUNT bounds the series: exactly COUNT tasks, the last one ends it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'FREQ=DAILY',
          'FREQ=WEEKLY;BYDAY=MO,WE,FR',
          'FREQ=MONTHLY;BYMONTHDAY=10,20',
          'FREQ=WEEKLY;INTERVAL=2',
        ),
        fc.integer({ min: 1, max: 20 }),
        zonedStart,
        (base, count, { zone, iso }) => {
          const rule = `${base};COUNT=${count}`;
          const preview = previewOccurrences({ rule, start: iso, timeZone: zone, count: 30 });
          expect(preview).toHaveLength(count);
          expect(chain(rule, zone, iso, 'skip', 30)).toEqual(preview);
          const last = nextOccurrence({
            recurrence: { rule },
            dueDate: preview.at(-1)!,
            completedAt: null,
            timeZone: zone,
            occurrence: count,
          });
          expect(last).toBeNull();
        },
      ),
      RUNS,
    );
  });

  it('UNTIL bounds the series: the same schedule, cut at UNTIL', () => {
    fc.assert(
      fc.property(
        calendarRule,
        zonedStart,
        fc.integer({ min: 0, max: 400 }),
        (rule, { zone, start, iso }, days) => {
          fc.pre(!rule.includes('COUNT'));
          const untilInstant = start.add({ days, hours: 3 }).toInstant();
          const until = untilInstant.toString().replace(/[-:]/g, '').replace(/\.\d+/, '');
          const bounded = `${toRRule(rule)};UNTIL=${until}`;
          fc.pre(parseRule(bounded, { start: iso, timeZone: zone }).ok);
          const unbounded = previewOccurrences({ rule, start: iso, timeZone: zone, count: 100 });
          fc.pre(ms(unbounded.at(-1)!) > untilInstant.epochMilliseconds);
          const list = previewOccurrences({ rule: bounded, start: iso, timeZone: zone, count: 100 });
          expect(list).toEqual(unbounded.filter((at) => ms(at) <= untilInstant.epochMilliseconds));
          const after = nextOccurrence({
            recurrence: { rule: bounded },
            dueDate: list.at(-1)!,
            completedAt: null,
            timeZone: zone,
            occurrence: list.length,
          });
          expect(after).toBeNull();
        },
      ),
      RUNS,
    );
  });

  it('calendar rules keep the local time of day across DST', () => {
    fc.assert(
      fc.property(calendarRule, zonedStart, monthEnd, (rule, { zone, start, iso }, me) => {
        fc.pre(parseRule(rule, { start: iso, timeZone: zone, monthEnd: me }).ok);
        // The series' local time is the start's, unless the start itself fell in a gap.
        const intended = start.toPlainTime();
        for (const at of chain(rule, zone, iso, me, 15))
          expect(keepsLocalTime(at, zone, intended)).toBe(true);
      }),
      RUNS,
    );
  });

  it('a series started at a local time a DST change skips keeps that time on the other days', () => {
    // 02:30 does not exist on the spring-forward night in New York (and 00:00 in Sao Paulo up to 2018).
    const cases = [
      { zone: 'America/New_York', wall: '2026-03-06T02:30' },
      { zone: 'Europe/London', wall: '2026-03-27T01:30' },
      { zone: 'Australia/Sydney', wall: '2026-10-02T02:15' },
      { zone: 'America/Sao_Paulo', wall: '2018-11-02T00:00' },
    ];
    for (const { zone, wall } of cases) {
      const time = Temporal.PlainDateTime.from(wall).toPlainTime();
      const iso = Temporal.PlainDateTime.from(wall).toZonedDateTime(zone).toInstant().toString();
      const series = chain('daily', zone, iso, 'skip', 8);
      const locals = series.map((at) => Temporal.ZonedDateTime.from(`${at}[${zone}]`).toPlainTime());
      expect(locals.filter((t) => !t.equals(time))).toHaveLength(1); // only the gap day differs
      for (const at of series) expect(keepsLocalTime(at, zone, time)).toBe(true);
    }
  });

  it('anchor completion: the next task is after the completion day and after the current due date, at the usual time', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'daily',
          'weekdays',
          'weekly:TU,SA',
          'FREQ=WEEKLY;INTERVAL=2',
          'monthly:-1',
          'FREQ=DAILY;INTERVAL=3',
        ),
        zonedStart,
        fc.integer({ min: -3 * 24 * 60, max: 20 * 24 * 60 }),
        (rule, { zone, start, iso }, lateMinutes) => {
          const completed = start.add({ minutes: lateMinutes });
          const next = nextOccurrence({
            recurrence: { rule, anchor: 'completion' },
            dueDate: iso,
            completedAt: completed.toInstant().toString(),
            timeZone: zone,
            occurrence: 1,
          });
          expect(next).not.toBeNull();
          expect(ms(next!.dueDate)).toBeGreaterThan(ms(iso));
          const nextLocal = Temporal.ZonedDateTime.from(`${next!.dueDate}[${zone}]`);
          expect(
            Temporal.PlainDate.compare(nextLocal.toPlainDate(), completed.toPlainDate()),
          ).toBeGreaterThan(0);
          expect(keepsLocalTime(next!.dueDate, zone, start.toPlainTime())).toBe(true);
        },
      ),
      RUNS,
    );
  });
});

/** The RRULE a preset stands for, so UNTIL can be added to it. */
function toRRule(rule: string): string {
  if (rule.startsWith('FREQ=')) return rule;
  const presets: Record<string, string> = {
    daily: 'FREQ=DAILY',
    weekdays: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR',
    weekly: 'FREQ=WEEKLY',
    monthly: 'FREQ=MONTHLY',
    yearly: 'FREQ=YEARLY',
  };
  if (presets[rule]) return presets[rule]!;
  const [kind, arg] = rule.split(':') as [string, string];
  if (kind === 'weekly') return `FREQ=WEEKLY;BYDAY=${arg}`;
  return /^-?\d+$/.test(arg) ? `FREQ=MONTHLY;BYMONTHDAY=${arg}` : `FREQ=MONTHLY;BYDAY=${arg}`;
}
