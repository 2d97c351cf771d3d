/**
 * The recurrence engine's public API: parse and validate rules, preview a series, and compute the
 * one next occurrence of a series. Pure (no I/O); the only clock read is the default start (now)
 * of `parseRule` and `validateRecurrenceForTask` for a task without a due date. Semantics are
 * specified in docs/adr/0005-recurrence-rules.md.
 *
 * A series is the tasks that share a `series_id`; its first task's due date is the start (RFC 5545
 * DTSTART) and is always occurrence 1, whether or not the rule would produce it, as DTSTART always
 * counts as the first occurrence in RFC 5545. COUNT counts the series' tasks from that first one.
 */
import { Temporal } from 'temporal-polyfill';
import {
  generate,
  HORIZON_YEARS,
  type MonthEnd,
  placeInZone,
  RecurrenceRuleError,
  resolveUntil,
  SUB_DAILY_HORIZON_DAYS,
} from './engine.js';
import { neverMatches, type ParsedRule, parseRuleSyntax } from './grammar.js';

export type Anchor = 'due' | 'completion';
export type DateInput = Date | string;

/** The task's `recurrence` field (contracts `Recurrence`). */
export interface RecurrenceSpec {
  rule: string;
  anchor?: Anchor;
  month_end?: MonthEnd;
}

export interface ParseRuleOptions {
  /** The series start used to check that the rule produces an occurrence; defaults to now. */
  start?: DateInput;
  /** IANA zone the rule is read in; defaults to UTC. */
  timeZone?: string;
  monthEnd?: MonthEnd;
}

export type ParseRuleResult = { ok: true; rule: ParsedRule } | { ok: false; reason: string };

/** Upper bound of `previewOccurrences`' count. */
export const MAX_PREVIEW = 100;

function toInstant(value: DateInput, what: string): Temporal.Instant {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) throw new RecurrenceRuleError(`${what} is not a valid date-time`);
  return Temporal.Instant.fromEpochMilliseconds(ms);
}

/** Null when `timeZone` is an IANA zone Temporal knows, else the reason. */
export function checkTimeZone(timeZone: string): string | null {
  try {
    Temporal.Now.instant().toZonedDateTimeISO(timeZone);
    return null;
  } catch {
    return `unknown time zone "${timeZone}"`;
  }
}

function wallOf(instant: Temporal.Instant, timeZone: string): Temporal.PlainDateTime {
  return instant.toZonedDateTimeISO(timeZone).toPlainDateTime();
}

/**
 * Parses and checks a rule: syntax, value ranges, INTERVAL=0, COUNT with UNTIL, RFC 5545 rule-part
 * combinations, and that the rule itself produces at least one date-time at or after `start`
 * within HORIZON_YEARS (SUB_DAILY_HORIZON_DAYS for HOURLY and MINUTELY) (catches BYMONTH=2;BYMONTHDAY=30 and UNTIL before the start). Never throws.
 */
export function parseRule(rule: string, opts: ParseRuleOptions = {}): ParseRuleResult {
  try {
    const syntax = parseRuleSyntax(rule);
    if (!syntax.ok) return syntax;
    const timeZone = opts.timeZone ?? 'UTC';
    const tzProblem = checkTimeZone(timeZone);
    if (tzProblem) return { ok: false, reason: tzProblem };
    const monthEnd = opts.monthEnd ?? 'skip';
    const parsed = syntax.rule;
    const never = neverMatches(parsed, monthEnd);
    if (never) return { ok: false, reason: never };
    const start = opts.start === undefined ? Temporal.Now.instant() : toInstant(opts.start, 'start');
    const until = parsed.kind === 'rrule' ? resolveUntil(parsed.until, timeZone) : undefined;
    if (until && Temporal.Instant.compare(until, start) < 0) {
      return {
        ok: false,
        reason: 'UNTIL is before the start (the due date), so the series would already be over',
      };
    }
    const first = generate({
      rule: parsed,
      timeZone,
      monthEnd,
      startWall: wallOf(start, timeZone),
      startAt: start,
      after: start,
      inclusive: true,
      limit: 1,
    });
    if (first.length === 0) {
      // Sub-daily rules search a shorter horizon: the reason names the one that was searched.
      const subDaily = parsed.kind === 'rrule' && (parsed.freq === 'HOURLY' || parsed.freq === 'MINUTELY');
      const horizon = subDaily ? `${SUB_DAILY_HORIZON_DAYS} days` : `${HORIZON_YEARS} years`;
      return {
        ok: false,
        reason: until
          ? 'the rule produces no occurrence between the start and UNTIL'
          : `the rule produces no occurrence within ${horizon} of the start (fewer periods for BYSETPOS)`,
      };
    }
    return { ok: true, rule: parsed };
  } catch (e) {
    return { ok: false, reason: e instanceof RecurrenceRuleError ? e.reason : `invalid rule: ${String(e)}` };
  }
}

function parseOrThrow(rule: string): ParsedRule {
  const syntax = parseRuleSyntax(rule);
  if (!syntax.ok) throw new RecurrenceRuleError(syntax.reason);
  return syntax.rule;
}

function requireTimeZone(timeZone: string): void {
  const problem = checkTimeZone(timeZone);
  if (problem) throw new RecurrenceRuleError(problem);
}

/** ISO-8601 with the zone's offset and no zone name, e.g. `2026-03-30T09:00:00+01:00`. */
export function formatOccurrence(z: Temporal.ZonedDateTime): string {
  return z.toString({ timeZoneName: 'never' });
}

export interface PreviewInput {
  rule: string;
  /** The due date of the series' first task. */
  start: DateInput;
  timeZone: string;
  monthEnd?: MonthEnd;
  /** 1..MAX_PREVIEW. */
  count: number;
}

/**
 * The due dates of the first `count` tasks of a series whose first task is due at `start`, as
 * ISO-8601 with the zone's offsets: `start` itself, then the rule's occurrences after it. Fewer
 * when the series ends (COUNT, UNTIL) or the search horizon is reached. This is the schedule of
 * anchor `due`; with anchor `completion` it is the series when each task is completed on its due
 * date. Throws RecurrenceRuleError with the reason for an invalid rule, zone or start.
 */
export function previewOccurrences(input: PreviewInput): string[] {
  const monthEnd = input.monthEnd ?? 'skip';
  const checked = parseRule(input.rule, { start: input.start, timeZone: input.timeZone, monthEnd });
  if (!checked.ok) throw new RecurrenceRuleError(checked.reason);
  const parsed = checked.rule;
  const start = toInstant(input.start, 'start');
  let limit = Math.max(0, Math.min(Math.floor(input.count), MAX_PREVIEW));
  if (parsed.kind === 'rrule' && parsed.count !== undefined) limit = Math.min(limit, parsed.count);
  if (limit === 0) return [];
  const first = start.toZonedDateTimeISO(input.timeZone);
  const rest = generate({
    rule: parsed,
    timeZone: input.timeZone,
    monthEnd,
    startWall: first.toPlainDateTime(),
    startAt: start,
    after: start,
    inclusive: false,
    limit: limit - 1,
  });
  return [first, ...rest.map((o) => o.at)].map(formatOccurrence);
}

export interface NextOccurrenceInput {
  recurrence: RecurrenceSpec;
  /** The current task's due date (null: the completion time is the anchor). */
  dueDate: DateInput | null;
  /** When the current task was completed (null: the due date is the anchor). */
  completedAt: DateInput | null;
  timeZone: string;
  /** 1-based number of the current task in its series. */
  occurrence: number;
  /**
   * The local date-time the current due date was meant to be (ISO, no offset), when known. A local
   * time that a DST change skips (02:30 on a spring-forward night) is due at the first instant
   * after the gap (03:30), whose local time alone would move the rest of the series to 03:30.
   * Used only when it still names the due date's instant in `timeZone`.
   */
  dueLocal?: string | null;
}

export interface NextOccurrence {
  /** ISO-8601 with the zone's offset. */
  dueDate: string;
  /** The local date-time the rule asked for (differs from `dueDate`'s only in a DST gap). */
  local: string;
  /** True when `local` does not exist that day (a DST gap), so `dueDate` alone reads later. */
  shifted: boolean;
  /** The next task's number in the series (`occurrence` + 1). */
  occurrence: number;
}

const later = (a: Temporal.Instant, b: Temporal.Instant) => (Temporal.Instant.compare(a, b) >= 0 ? a : b);

function intendedWall(
  due: Temporal.Instant,
  timeZone: string,
  hint: string | null | undefined,
): Temporal.PlainDateTime {
  if (hint) {
    try {
      const wall = Temporal.PlainDateTime.from(hint);
      if (placeInZone(wall, timeZone).toInstant().equals(due)) return wall;
    } catch {
      // not a date-time: fall back to the due date's own local time
    }
  }
  return wallOf(due, timeZone);
}

/**
 * The series' next task, or null when the series has ended (the current task is occurrence COUNT,
 * the next occurrence is after UNTIL, or there is none within the search horizon).
 *
 * - anchor `due` (Todoist "every", org-mode `+`): the first occurrence strictly after the current
 *   due date on the schedule that starts at the current due date (its local time, weekday and day
 *   of month fill in what the rule leaves open, as DTSTART does in RFC 5545). Completing late or
 *   early does not move the schedule; the series' due dates are exactly those of the preview.
 * - anchor `completion` (Todoist "every!", org-mode `.+`): the schedule restarts on the completion
 *   day at the series' local time of day (the due date's; the completion's when there is none),
 *   and the next task is its first occurrence after that restart and after the current due date.
 *   So `daily` completed at any time on Monday is due Tuesday at the usual time, `FREQ=WEEKLY;
 *   INTERVAL=2` completed on a Thursday is due two Thursdays later, and completing early never
 *   yields the current due date again. Sub-daily rules (HOURLY, MINUTELY) and cron restart at the
 *   completion instant itself.
 *
 * Deterministic: it depends on the task's fields only, never on the clock.
 * Throws RecurrenceRuleError for an invalid rule or zone, or when neither date is given.
 */
export function nextOccurrence(input: NextOccurrenceInput): NextOccurrence | null {
  const parsed = parseOrThrow(input.recurrence.rule);
  requireTimeZone(input.timeZone);
  const { timeZone } = input;
  if (parsed.kind === 'rrule' && parsed.count !== undefined && input.occurrence >= parsed.count) return null;
  const due = input.dueDate === null ? null : toInstant(input.dueDate, 'due date');
  const completed = input.completedAt === null ? null : toInstant(input.completedAt, 'completion time');
  let anchor: Anchor = input.recurrence.anchor ?? 'due';
  if (anchor === 'due' && due === null) anchor = 'completion';
  if (anchor === 'completion' && completed === null) anchor = 'due';
  if (anchor === 'due' && due === null)
    throw new RecurrenceRuleError('a due date or a completion time is needed');

  let startWall: Temporal.PlainDateTime;
  let startAt: Temporal.Instant;
  let after: Temporal.Instant;
  if (anchor === 'due') {
    startWall = intendedWall(due!, timeZone, input.dueLocal);
    startAt = due!;
    after = due!;
  } else {
    const done = completed!;
    const doneWall = wallOf(done, timeZone);
    const subDaily = parsed.kind === 'cron' || parsed.freq === 'HOURLY' || parsed.freq === 'MINUTELY';
    if (subDaily) {
      startWall = doneWall;
      startAt = done;
      after = done;
    } else {
      const time = due ? intendedWall(due, timeZone, input.dueLocal).toPlainTime() : doneWall.toPlainTime();
      startWall = doneWall.toPlainDate().toPlainDateTime(time);
      startAt = placeInZone(startWall, timeZone).toInstant();
      after = startAt;
    }
    if (due) after = later(after, due);
  }
  const [next] = generate({
    rule: parsed,
    timeZone,
    monthEnd: input.recurrence.month_end ?? 'skip',
    startWall,
    startAt,
    after,
    inclusive: false,
    limit: 1,
  });
  if (!next) return null;
  return {
    dueDate: formatOccurrence(next.at),
    local: next.wall.toString(),
    shifted: !next.wall.equals(next.at.toPlainDateTime()),
    occurrence: input.occurrence + 1,
  };
}

export interface TaskRecurrenceFields {
  recurrence: RecurrenceSpec | null | undefined;
  due_date: DateInput | null | undefined;
  time_zone: string;
  /** The task's number in its series (1 for a new task). */
  occurrence?: number;
}

/**
 * Checks a task's recurrence when it is created or changed; throws RecurrenceRuleError with the
 * reason (a 400) when the rule cannot be used: unparsable, unknown time zone, INTERVAL=0, COUNT
 * with UNTIL, no occurrence from the due date on (or from now for a task without one), or a
 * COUNT the task's series has already passed.
 */
export function validateRecurrenceForTask(task: TaskRecurrenceFields): void {
  const { recurrence } = task;
  if (!recurrence) return;
  const result = parseRule(recurrence.rule, {
    start: task.due_date ?? undefined,
    timeZone: task.time_zone,
    monthEnd: recurrence.month_end ?? 'skip',
  });
  if (!result.ok) throw new RecurrenceRuleError(result.reason);
  const occurrence = task.occurrence ?? 1;
  if (result.rule.kind === 'rrule' && result.rule.count !== undefined && occurrence > result.rule.count) {
    throw new RecurrenceRuleError(
      `COUNT=${result.rule.count} is already passed: this task is occurrence ${occurrence} of its series`,
    );
  }
}

export interface ShiftWithDueInput {
  /** A date-time set relative to the current due date (a reminder's `at`). */
  at: DateInput;
  dueDate: DateInput;
  nextDueDate: DateInput;
  timeZone: string;
}

/**
 * Moves a date-time tied to the current task's due date onto the next task's, keeping its local
 * distance from the due date: "08:00 the day before a 09:00 due date" stays 08:00 the day before,
 * across DST too. ISO-8601 with the zone's offset.
 */
export function shiftWithDue(input: ShiftWithDueInput): string {
  requireTimeZone(input.timeZone);
  const wall = (d: DateInput, what: string) => wallOf(toInstant(d, what), input.timeZone);
  const distance = wall(input.at, 'reminder time').until(wall(input.dueDate, 'due date'), {
    largestUnit: 'day',
  });
  return formatOccurrence(
    placeInZone(wall(input.nextDueDate, 'next due date').subtract(distance), input.timeZone),
  );
}
