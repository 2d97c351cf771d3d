/**
 * Recurrence rule grammar (see docs/adr/0005-recurrence-rules.md).
 *
 * A rule string is one of:
 *
 * - a **preset** (case-insensitive), mapped to an RRULE:
 *   | preset            | RRULE                                  |
 *   |-------------------|----------------------------------------|
 *   | `daily`           | `FREQ=DAILY`                           |
 *   | `weekdays`        | `FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR`     |
 *   | `weekly`          | `FREQ=WEEKLY` (weekday of the start)   |
 *   | `weekly:MO,WE,FR` | `FREQ=WEEKLY;BYDAY=MO,WE,FR`           |
 *   | `monthly`         | `FREQ=MONTHLY` (day of the start)      |
 *   | `monthly:15`      | `FREQ=MONTHLY;BYMONTHDAY=15` (`1,15` and `-1` = last day allowed) |
 *   | `monthly:2TU`     | `FREQ=MONTHLY;BYDAY=2TU` (`-1FR` = last Friday) |
 *   | `yearly`          | `FREQ=YEARLY` (month and day of the start) |
 * - an **RFC 5545 RRULE**, with or without the `RRULE:` prefix: FREQ (YEARLY, MONTHLY, WEEKLY,
 *   DAILY, HOURLY, MINUTELY), INTERVAL (1..1000), COUNT (1..10000) or UNTIL (never both), BYDAY
 *   (with ordinals), BYMONTHDAY (negatives count from the month's end), BYYEARDAY, BYWEEKNO,
 *   BYMONTH, BYHOUR, BYMINUTE, BYSETPOS, WKST. Not accepted: DTSTART (the task's due date is the
 *   start), SECONDLY/BYSECOND (tasks have minute precision), RSCALE/SKIP (use `month_end`).
 * - a **5-field cron** expression (`minute hour day-of-month month day-of-week`), written
 *   `cron:0 9 * * 1-5` or bare `0 9 * * 1-5`.
 *
 * This module only checks syntax and value ranges; the RFC 5545 rule-part combinations are
 * checked by rrule-temporal in strict mode when the rule is first evaluated (see `parseRule`).
 */
import { Temporal } from 'temporal-polyfill';

export type Frequency = 'YEARLY' | 'MONTHLY' | 'WEEKLY' | 'DAILY' | 'HOURLY' | 'MINUTELY';

/** UNTIL as written: a UTC instant (`...Z`), or a local date/date-time read in the task's zone. */
export type Until =
  | { kind: 'instant'; instant: Temporal.Instant }
  | { kind: 'local'; wall: Temporal.PlainDateTime; dateOnly: boolean };

export interface RRuleSpec {
  kind: 'rrule';
  /** The rule as the user wrote it. */
  source: string;
  freq: Frequency;
  interval: number;
  /** Rule parts other than COUNT and UNTIL (which the engine applies itself), upper-cased. */
  parts: ReadonlyMap<string, string>;
  count?: number;
  until?: Until;
}

export interface CronSpec {
  kind: 'cron';
  source: string;
  /** The five cron fields, single-space separated. */
  expression: string;
}

export type ParsedRule = RRuleSpec | CronSpec;

export type GrammarResult = { ok: true; rule: ParsedRule } | { ok: false; reason: string };

export const MAX_INTERVAL = 1000;
export const MAX_COUNT = 10000;
const MAX_LIST = 400;

const WEEKDAY = '(?:MO|TU|WE|TH|FR|SA|SU)';
const FREQS: readonly Frequency[] = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY'];
const KNOWN_PARTS = new Set([
  'FREQ',
  'INTERVAL',
  'COUNT',
  'UNTIL',
  'BYMINUTE',
  'BYHOUR',
  'BYDAY',
  'BYMONTHDAY',
  'BYYEARDAY',
  'BYWEEKNO',
  'BYMONTH',
  'BYSETPOS',
  'WKST',
]);

/** Numeric list parts: [min, max, signed (negatives allowed, zero not)]. */
const NUMERIC_LISTS: Record<string, [number, number, boolean]> = {
  BYMINUTE: [0, 59, false],
  BYHOUR: [0, 23, false],
  BYMONTHDAY: [1, 31, true],
  BYYEARDAY: [1, 366, true],
  BYWEEKNO: [1, 53, true],
  BYMONTH: [1, 12, false],
  BYSETPOS: [1, 366, true],
};

const fail = (reason: string): GrammarResult => ({ ok: false, reason });

/** Parses a rule string's syntax (no evaluation). Never throws. */
export function parseRuleSyntax(input: string): GrammarResult {
  if (typeof input !== 'string') return fail('the rule must be a string');
  const source = input.trim();
  if (source.length === 0) return fail('the rule is empty');
  if (source.length > 500) return fail('the rule is longer than 500 characters');

  const cron = /^cron:\s*(.*)$/i.exec(source);
  if (cron) return parseCron(source, cron[1]);

  const preset = presetToRRule(source);
  if (preset !== undefined) {
    return preset === null ? fail(`unknown preset "${source}"`) : parseRRule(source, preset);
  }

  if (!source.includes('=') && source.split(/\s+/).length === 5) return parseCron(source, source);
  return parseRRule(source, source);
}

function parseCron(source: string, body: string): GrammarResult {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 5 || fields[0] === '') {
    return fail('a cron rule has exactly 5 fields: minute hour day-of-month month day-of-week');
  }
  if (!fields.every((f) => /^[0-9A-Za-z*?,/#-]+$/.test(f))) {
    return fail('a cron field may only contain digits, names and * ? , / - # L');
  }
  return { ok: true, rule: { kind: 'cron', source, expression: fields.join(' ') } };
}

/**
 * Maps a preset to an RRULE body; `undefined` when the input is not preset-shaped, `null` when it
 * looks like a preset (`weekly:...`, `monthly:...`) but the argument is invalid.
 */
function presetToRRule(source: string): string | null | undefined {
  const s = source.toLowerCase();
  switch (s) {
    case 'daily':
      return 'FREQ=DAILY';
    case 'weekdays':
      return 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR';
    case 'weekly':
      return 'FREQ=WEEKLY';
    case 'monthly':
      return 'FREQ=MONTHLY';
    case 'yearly':
      return 'FREQ=YEARLY';
  }
  const m = /^(weekly|monthly):(.*)$/i.exec(source);
  if (!m) return undefined;
  const arg = m[2].trim().toUpperCase();
  if (m[1].toLowerCase() === 'weekly') {
    return new RegExp(`^${WEEKDAY}(?:,${WEEKDAY})*$`).test(arg) ? `FREQ=WEEKLY;BYDAY=${arg}` : null;
  }
  if (/^-?\d{1,2}(?:,-?\d{1,2})*$/.test(arg)) return `FREQ=MONTHLY;BYMONTHDAY=${arg}`;
  if (new RegExp(`^[+-]?[1-5]${WEEKDAY}$`).test(arg)) return `FREQ=MONTHLY;BYDAY=${arg}`;
  return null;
}

function parseRRule(source: string, body: string): GrammarResult {
  const text = body.replace(/^RRULE:/i, '').trim();
  if (/[\r\n]/.test(text))
    return fail('the rule must be a single RRULE line (DTSTART comes from the due date)');
  const parts = new Map<string, string>();
  for (const raw of text.split(';')) {
    if (raw.trim() === '') continue;
    const eq = raw.indexOf('=');
    if (eq <= 0) return fail(`"${raw}" is not a NAME=VALUE rule part`);
    const name = raw.slice(0, eq).trim().toUpperCase();
    const value = raw
      .slice(eq + 1)
      .trim()
      .toUpperCase();
    if (name === 'RSCALE' || name === 'SKIP') return fail(`${name} is not supported; use month_end instead`);
    if (name === 'BYSECOND') return fail('BYSECOND is not supported (tasks have minute precision)');
    if (name === 'DTSTART') return fail('DTSTART is not part of the rule; the due date is the start');
    if (!KNOWN_PARTS.has(name)) return fail(`unknown rule part ${name}`);
    if (parts.has(name)) return fail(`${name} appears twice`);
    if (value === '') return fail(`${name} has no value`);
    parts.set(name, value);
  }

  const freq = parts.get('FREQ');
  if (freq === undefined) return fail('the rule needs FREQ (or a preset such as "daily")');
  if (freq === 'SECONDLY') return fail('FREQ=SECONDLY is not supported (tasks have minute precision)');
  if (!(FREQS as readonly string[]).includes(freq)) return fail(`FREQ=${freq} is not a frequency`);

  let interval = 1;
  const intervalText = parts.get('INTERVAL');
  if (intervalText !== undefined) {
    if (!/^\d{1,9}$/.test(intervalText)) return fail('INTERVAL must be a positive integer');
    interval = Number(intervalText);
    if (interval === 0) return fail('INTERVAL must be at least 1');
    if (interval > MAX_INTERVAL) return fail(`INTERVAL must be at most ${MAX_INTERVAL}`);
  }

  let count: number | undefined;
  const countText = parts.get('COUNT');
  if (countText !== undefined) {
    if (!/^\d{1,9}$/.test(countText) || Number(countText) === 0)
      return fail('COUNT must be a positive integer');
    count = Number(countText);
    if (count > MAX_COUNT) return fail(`COUNT must be at most ${MAX_COUNT}`);
  }

  let until: Until | undefined;
  const untilText = parts.get('UNTIL');
  if (untilText !== undefined) {
    const parsed = parseUntil(untilText);
    if (!parsed) return fail('UNTIL must be a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS[Z])');
    until = parsed;
  }
  if (count !== undefined && until !== undefined) return fail('COUNT and UNTIL cannot be used together');

  for (const [name, [min, max, signed]] of Object.entries(NUMERIC_LISTS)) {
    const value = parts.get(name);
    if (value === undefined) continue;
    const items = value.split(',');
    if (items.length > MAX_LIST) return fail(`${name} has too many values`);
    for (const item of items) {
      if (!(signed ? /^[+-]?\d{1,3}$/ : /^\+?\d{1,3}$/).test(item))
        return fail(`${name}: "${item}" is not a number`);
      const n = Math.abs(Number(item));
      if (n < min || n > max || (signed && n === 0)) {
        return fail(`${name} values must be ${signed ? `±${min}..${max}` : `${min}..${max}`}, got ${item}`);
      }
    }
  }

  const byDay = parts.get('BYDAY');
  if (byDay !== undefined) {
    for (const item of byDay.split(',')) {
      const m = new RegExp(`^([+-]?\\d{1,2})?(${WEEKDAY})$`).exec(item);
      if (!m) return fail(`BYDAY: "${item}" is not a weekday such as MO, 2TU or -1FR`);
      if (m[1] !== undefined) {
        const n = Math.abs(Number(m[1]));
        if (n < 1 || n > 53) return fail(`BYDAY ordinals must be ±1..53, got ${item}`);
      }
    }
  }
  const wkst = parts.get('WKST');
  if (wkst !== undefined && !new RegExp(`^${WEEKDAY}$`).test(wkst))
    return fail('WKST must be a weekday (MO..SU)');

  const rest = new Map(parts);
  rest.delete('COUNT');
  rest.delete('UNTIL');
  return {
    ok: true,
    rule: { kind: 'rrule', source, freq: freq as Frequency, interval, parts: rest, count, until },
  };
}

/** Longest length of each month (February: leap years). */
const MAX_MONTH_LENGTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * BYMONTHDAY values that no month of BYMONTH has (`BYMONTH=2;BYMONTHDAY=30`): such a rule never
 * produces an occurrence, which is said at once rather than found by searching decades.
 * month_end "clamp" makes these valid for MONTHLY and YEARLY rules (see `neverMatches`).
 */
export function impossibleMonthDays(
  byMonth: string | undefined,
  byMonthDay: string | undefined,
): string | null {
  if (byMonth === undefined || byMonthDay === undefined) return null;
  const months = byMonth.split(',').map(Number);
  const days = byMonthDay.split(',').map((d) => Math.abs(Number(d)));
  const possible = months.some((m) => days.some((d) => d <= MAX_MONTH_LENGTH[m - 1]));
  return possible
    ? null
    : `BYMONTHDAY=${byMonthDay} never falls in BYMONTH=${byMonth}, so the rule produces no occurrence`;
}

/** Why the rule can never produce an occurrence, found without evaluating it; null when it may. */
export function neverMatches(rule: ParsedRule, monthEnd: 'skip' | 'clamp'): string | null {
  if (rule.kind !== 'rrule') return null;
  const setPos = bySetPosOutOfRange(rule);
  if (setPos) return setPos;
  if (monthEnd === 'clamp' && (rule.freq === 'MONTHLY' || rule.freq === 'YEARLY')) return null;
  return impossibleMonthDays(rule.parts.get('BYMONTH'), rule.parts.get('BYMONTHDAY'));
}

const listLength = (rule: RRuleSpec, part: string): number | undefined =>
  rule.parts.get(part)?.split(',').length;

/**
 * An upper bound of how many date-times one period (INTERVAL apart) of the rule holds before
 * BYSETPOS picks from them: its days times its BYHOUR x BYMINUTE times of day.
 */
export function periodSizeBound(rule: RRuleSpec): number {
  const hours = listLength(rule, 'BYHOUR') ?? 1;
  const minutes = listLength(rule, 'BYMINUTE') ?? 1;
  const days = { YEARLY: 366, MONTHLY: 31, WEEKLY: 7, DAILY: 1, HOURLY: 1, MINUTELY: 1 }[rule.freq];
  const weekdays = rule.parts.has('BYDAY') ? new Set(rule.parts.get('BYDAY')!.split(',')).size : undefined;
  const dayBound = rule.freq === 'WEEKLY' && weekdays !== undefined ? Math.min(days, weekdays) : days;
  if (rule.freq === 'HOURLY') return minutes;
  if (rule.freq === 'MINUTELY') return 1;
  return dayBound * hours * minutes;
}

/** BYSETPOS values that no period can reach (`FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=3`). */
function bySetPosOutOfRange(rule: RRuleSpec): string | null {
  const setPos = rule.parts.get('BYSETPOS');
  if (setPos === undefined) return null;
  const bound = periodSizeBound(rule);
  if (setPos.split(',').some((p) => Math.abs(Number(p)) <= bound)) return null;
  return `BYSETPOS=${setPos} is beyond the at most ${bound} date-times a period of this rule has, so the rule produces no occurrence`;
}

function parseUntil(text: string): Until | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, z] = m;
  try {
    const date = Temporal.PlainDate.from({ year: +y, month: +mo, day: +d }, { overflow: 'reject' });
    if (h === undefined) {
      // A date-only UNTIL includes that whole local day.
      return {
        kind: 'local',
        wall: date.toPlainDateTime({ hour: 23, minute: 59, second: 59 }),
        dateOnly: true,
      };
    }
    const wall = date.toPlainDateTime(
      Temporal.PlainTime.from({ hour: +h, minute: +mi, second: +s }, { overflow: 'reject' }),
    );
    return z
      ? { kind: 'instant', instant: wall.toZonedDateTime('UTC').toInstant() }
      : { kind: 'local', wall, dateOnly: false };
  } catch {
    return undefined;
  }
}

/** The RRULE text handed to rrule-temporal: every part except COUNT and UNTIL. */
export function rruleBody(rule: RRuleSpec, overrides: Record<string, string> = {}): string {
  const parts = new Map(rule.parts);
  for (const [k, v] of Object.entries(overrides)) parts.set(k, v);
  return [...parts].map(([k, v]) => `${k}=${v}`).join(';');
}
