/**
 * Occurrence generation for a parsed rule in an IANA time zone.
 *
 * Calendar rules (FREQ=DAILY and coarser) and cron are evaluated on the zone's local wall clock:
 * rrule-temporal / cron-parser run in UTC on the local date-times ("floating" time), and each
 * local occurrence is then placed in the zone with Temporal's `compatible` disambiguation. So
 * 09:00 stays 09:00 local across DST; a local time that does not exist on a spring-forward day
 * (02:30 in New York) moves forward by the gap (03:30, as RFC 5545 §3.3.5 reads such a
 * DATE-TIME) instead of silently dropping that day's task; an ambiguous fall-back time takes the
 * earlier instant. Sub-daily rules (HOURLY, MINUTELY) count elapsed time, so they run on the
 * zoned time line directly (RFC 5545 semantics).
 *
 * Everything is bounded: at most HORIZON_YEARS ahead of the start, at most MAX_ITERATIONS
 * recurrence periods and MAX_CANDIDATES candidate date-times per evaluation, at most
 * MAX_CRON_STEPS cron steps. Hitting a bound ends the series (the result is just shorter).
 */
import { CronExpressionParser } from 'cron-parser';
import { RRuleTemporal } from 'rrule-temporal';
import { Temporal } from 'temporal-polyfill';
import {
  type CronSpec,
  neverMatches,
  type ParsedRule,
  periodSizeBound,
  type RRuleSpec,
  rruleBody,
  type Until,
} from './grammar.js';

export type MonthEnd = 'skip' | 'clamp';

/** How far ahead of the start the engine looks for occurrences. */
export const HORIZON_YEARS = 50;
/** Sub-daily rules look at most this far ahead. */
export const SUB_DAILY_HORIZON_DAYS = 366;
/** Recurrence periods one evaluation may visit (50 years of days is 18,263). */
export const MAX_ITERATIONS = 20_000;
/**
 * Candidate date-times one evaluation may look at. rrule-temporal takes its fast numeric paths
 * only with its default of one million, so that is the value.
 */
export const MAX_CANDIDATES = 1_000_000;
/**
 * Budget of BYSETPOS evaluations, in candidate date-times: rrule-temporal builds every period's
 * whole set before picking from it, at roughly a millisecond a DAILY or WEEKLY period, so a rule
 * with BYSETPOS may visit at most this many candidates' worth of periods (and no more than
 * MAX_ITERATIONS, no fewer than MIN_SETPOS_PERIODS). Keeps the worst rule near a quarter second.
 */
export const SETPOS_BUDGET = 20_000;
const MIN_SETPOS_PERIODS = 24;
export const MAX_CRON_STEPS = 5_000;
/** Upper bound of a local time's displacement when placed in a zone (offsets and DST gaps). */
const REORDER_MARGIN = { hours: 48 } as const;

/** A rule that cannot be evaluated (bad rule-part combination, unknown time zone...). */
export class RecurrenceRuleError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RecurrenceRuleError';
  }
}

export interface GenerateInput {
  rule: ParsedRule;
  timeZone: string;
  monthEnd: MonthEnd;
  /** DTSTART as a local wall-clock date-time in `timeZone`. */
  startWall: Temporal.PlainDateTime;
  /**
   * DTSTART's instant. Sub-daily rules count elapsed time from it; the wall time alone cannot
   * tell the two readings of a fall-back hour apart (01:08 EDT and 01:08 EST).
   */
  startAt: Temporal.Instant;
  /** Only occurrences after this instant (at or after when `inclusive`). */
  after: Temporal.Instant;
  inclusive: boolean;
  /** How many occurrences to return at most. */
  limit: number;
}

/** One occurrence: its instant in the zone, and the local date-time the rule produced. */
export interface Occurrence {
  at: Temporal.ZonedDateTime;
  /** Equal to `at`'s local date-time except in a DST gap (02:30 asked, 03:30 due). */
  wall: Temporal.PlainDateTime;
}

/**
 * The first `limit` occurrences (sorted, distinct instants) after `after`, within UNTIL and the
 * search horizon. COUNT is not applied here: the caller knows where the series starts.
 */
export function generate(input: GenerateInput): Occurrence[] {
  const { rule, timeZone } = input;
  if (input.limit <= 0 || neverMatches(rule, input.monthEnd)) return [];
  const until = resolveUntil(rule.kind === 'rrule' ? rule.until : undefined, timeZone);
  const keep = (z: Temporal.ZonedDateTime): boolean => {
    const c = Temporal.Instant.compare(z.toInstant(), input.after);
    if (c < 0 || (c === 0 && !input.inclusive)) return false;
    return until === undefined || Temporal.Instant.compare(z.toInstant(), until) <= 0;
  };
  let found: Occurrence[];
  if (rule.kind === 'cron') found = generateCron(rule, input, keep);
  else if (rule.freq === 'HOURLY' || rule.freq === 'MINUTELY')
    found = generateZoned(rule, input, until, keep);
  else found = generateWallClock(rule, input, until, keep);
  return sortDistinct(found).slice(0, input.limit);
}

export function resolveUntil(until: Until | undefined, timeZone: string): Temporal.Instant | undefined {
  if (until === undefined) return undefined;
  if (until.kind === 'instant') return until.instant;
  const z = until.wall.toZonedDateTime(timeZone, { disambiguation: 'compatible' });
  return until.dateOnly ? z.add({ nanoseconds: 999_999_999 }).toInstant() : z.toInstant();
}

/** Places a local date-time in the zone (gap: moved forward; overlap: the earlier instant). */
export function placeInZone(wall: Temporal.PlainDateTime, timeZone: string): Temporal.ZonedDateTime {
  return wall.toZonedDateTime(timeZone, { disambiguation: 'compatible' });
}

function sortDistinct(list: Occurrence[]): Occurrence[] {
  list.sort((a, b) => Temporal.ZonedDateTime.compare(a.at, b.at));
  return list.filter((o, i) => i === 0 || !o.at.toInstant().equals(list[i - 1].at.toInstant()));
}

/**
 * Collects occurrences from a sorted stream of local wall times. Placing a local time in the zone
 * keeps the order, except that a time inside a DST gap moves forward by the gap and may pass later
 * times. So once `limit` are kept, no later wall time can come before them when it is past the
 * latest kept one's local reading (its wall time plus any gap shift), and the stream stops there.
 */
class Collector {
  readonly found: Occurrence[] = [];
  private stopAfter: Temporal.PlainDateTime | undefined;
  /** Instants kept so far: a gap time moved forward may land on a time the rule also produces. */
  private readonly seen = new Set<bigint>();

  constructor(
    private readonly limit: number,
    private readonly keep: (z: Temporal.ZonedDateTime) => boolean,
    private readonly place: (wall: Temporal.PlainDateTime) => Temporal.ZonedDateTime,
  ) {}

  /** Returns false when no further occurrence is needed. */
  offer(wall: Temporal.PlainDateTime): boolean {
    if (this.stopAfter && Temporal.PlainDateTime.compare(wall, this.stopAfter) >= 0) return false;
    const at = this.place(wall);
    if (!this.keep(at) || this.seen.has(at.epochNanoseconds)) return true;
    this.seen.add(at.epochNanoseconds);
    this.found.push({ at, wall });
    if (this.found.length >= this.limit) {
      const reading = at.toPlainDateTime();
      if (!this.stopAfter || Temporal.PlainDateTime.compare(reading, this.stopAfter) > 0)
        this.stopAfter = reading;
      // Streams are strictly increasing: when no kept reading is past this wall time (no gap
      // moved one), the next wall time would stop the stream anyway, so do not ask for it
      // (each costs rrule-temporal tens of microseconds).
      if (Temporal.PlainDateTime.compare(wall, this.stopAfter) >= 0) return false;
    }
    return true;
  }
}

function isBoundError(e: unknown): boolean {
  return e instanceof Error && /maximum|exceeded|time span|out of the/i.test(e.message);
}

function ruleError(e: unknown): RecurrenceRuleError {
  return new RecurrenceRuleError(e instanceof Error ? e.message : String(e));
}

/** How many periods an evaluation of `rule` may visit (see SETPOS_BUDGET). */
export function maxIterationsFor(rule: RRuleSpec): number {
  if (!rule.parts.has('BYSETPOS')) return MAX_ITERATIONS;
  const perPeriod = Math.max(periodSizeBound(rule), 100);
  return Math.min(MAX_ITERATIONS, Math.max(MIN_SETPOS_PERIODS, Math.floor(SETPOS_BUDGET / perPeriod)));
}

/** Runs an rrule-temporal rule, handing each occurrence to `visit` until it returns false. */
function runRRule(
  options: {
    rruleString: string;
    dtstart: Temporal.ZonedDateTime;
    until: Temporal.ZonedDateTime;
    tzid?: string;
    maxIterations: number;
  },
  visit: (z: Temporal.ZonedDateTime) => boolean,
) {
  let rule: RRuleTemporal<Temporal.ZonedDateTime>;
  try {
    rule = new RRuleTemporal<Temporal.ZonedDateTime>({
      ...options,
      temporal: Temporal,
      strict: true,
      cache: false,
      maxCandidateEvaluations: MAX_CANDIDATES,
    });
  } catch (e) {
    throw ruleError(e);
  }
  try {
    rule.all((d) => visit(d));
  } catch (e) {
    if (!isBoundError(e)) throw ruleError(e);
  }
}

/** One rrule-temporal evaluation; `keep` filters its local date-times. */
interface RRuleRun {
  body: string;
  keep?: (wall: Temporal.PlainDateTime) => boolean;
}

/**
 * The rrule-temporal evaluations whose union is the rule's schedule.
 *
 * `clamp` (MONTHLY and YEARLY only) moves a day of month that a month lacks to the month's last
 * day (a negative one to its first day) instead of skipping it:
 * - a day that comes from the start (`monthly` started on the 31st, `yearly` on Feb 29) is
 *   clamped by rrule-temporal itself with RFC 7529 `RSCALE=GREGORIAN;SKIP=BACKWARD`;
 * - an explicit BYMONTHDAY past the 28th (`monthly:31`, `BYMONTH=2;BYMONTHDAY=30`) is not covered
 *   by RFC 7529 SKIP, so the same rule is also evaluated with `BYMONTHDAY=-1` (or `1`), keeping
 *   a month's last (first) day only when the month is shorter than one of the asked-for days.
 *   Days that clamp onto the same date give one occurrence. Such a rule cannot also use BYSETPOS,
 *   whose positions would count the clamped days twice.
 */
function rruleRuns(rule: RRuleSpec, monthEnd: MonthEnd, startWall: Temporal.PlainDateTime): RRuleRun[] {
  if (monthEnd !== 'clamp' || (rule.freq !== 'MONTHLY' && rule.freq !== 'YEARLY'))
    return [{ body: rruleBody(rule) }];
  // RSCALE turns off rrule-temporal's fast paths: only where the start's day of month is used.
  const dayFromStart = !['BYMONTHDAY', 'BYDAY', 'BYYEARDAY', 'BYWEEKNO'].some((p) => rule.parts.has(p));
  const clamp: Record<string, string> =
    dayFromStart && startWall.day > 28 ? { RSCALE: 'GREGORIAN', SKIP: 'BACKWARD' } : {};
  const days = (rule.parts.get('BYMONTHDAY')?.split(',') ?? []).map(Number);
  // Days past the 28th from the start (kept on the last day) and from the end (kept on the first).
  const clamped = [
    { days: days.filter((d) => d > 28), to: '-1' },
    { days: days.filter((d) => d < -28).map((d) => -d), to: '1' },
  ].filter((c) => c.days.length > 0);
  const runs: RRuleRun[] = [{ body: rruleBody(rule, clamp) }];
  if (clamped.length === 0) return runs;
  if (rule.parts.has('BYSETPOS')) {
    throw new RecurrenceRuleError(
      'month_end "clamp" cannot combine BYSETPOS with BYMONTHDAY values past the 28th; use month_end "skip" or BYMONTHDAY=-1',
    );
  }
  for (const { days: wanted, to } of clamped) {
    runs.push({
      body: rruleBody(rule, { ...clamp, BYMONTHDAY: to }),
      keep: (wall) => wanted.some((d) => d > wall.daysInMonth),
    });
  }
  return runs;
}

function generateWallClock(
  rule: RRuleSpec,
  input: GenerateInput,
  until: Temporal.Instant | undefined,
  keep: (z: Temporal.ZonedDateTime) => boolean,
): Occurrence[] {
  let stopWall = input.startWall.add({ years: HORIZON_YEARS });
  if (until) {
    const untilWall = until.toZonedDateTimeISO(input.timeZone).toPlainDateTime().add(REORDER_MARGIN);
    if (Temporal.PlainDateTime.compare(untilWall, stopWall) < 0) stopWall = untilWall;
  }
  if (Temporal.PlainDateTime.compare(stopWall, input.startWall) < 0) return [];
  const found: Occurrence[] = [];
  for (const run of rruleRuns(rule, input.monthEnd, input.startWall)) {
    const collector = new Collector(input.limit, keep, (wall) => placeInZone(wall, input.timeZone));
    runRRule(
      {
        rruleString: run.body,
        dtstart: input.startWall.toZonedDateTime('UTC'),
        until: stopWall.toZonedDateTime('UTC'),
        maxIterations: maxIterationsFor(rule),
      },
      (d) => {
        const wall = d.toPlainDateTime();
        return run.keep && !run.keep(wall) ? true : collector.offer(wall);
      },
    );
    found.push(...collector.found);
  }
  return found;
}

function generateZoned(
  rule: RRuleSpec,
  input: GenerateInput,
  until: Temporal.Instant | undefined,
  keep: (z: Temporal.ZonedDateTime) => boolean,
): Occurrence[] {
  const dtstart = input.startAt.toZonedDateTimeISO(input.timeZone);
  let stop = dtstart.add({ days: SUB_DAILY_HORIZON_DAYS });
  if (until && Temporal.Instant.compare(until, stop.toInstant()) < 0)
    stop = until.toZonedDateTimeISO(input.timeZone);
  if (Temporal.ZonedDateTime.compare(stop, dtstart) < 0) return [];
  const found: Occurrence[] = [];
  const options = {
    rruleString: rruleBody(rule),
    dtstart,
    tzid: input.timeZone,
    until: stop,
    maxIterations: maxIterationsFor(rule),
  };
  runRRule(options, (z) => {
    if (keep(z)) found.push({ at: z, wall: z.toPlainDateTime() });
    return found.length < input.limit;
  });
  return found;
}

function generateCron(
  rule: CronSpec,
  input: GenerateInput,
  keep: (z: Temporal.ZonedDateTime) => boolean,
): Occurrence[] {
  const start = input.startWall.toZonedDateTime('UTC');
  const end = input.startWall.add({ years: HORIZON_YEARS }).toZonedDateTime('UTC');
  let it: ReturnType<typeof CronExpressionParser.parse>;
  try {
    // cron-parser's next() is strictly after currentDate; one millisecond earlier includes the start.
    it = CronExpressionParser.parse(rule.expression, {
      tz: 'UTC',
      currentDate: new Date(start.epochMilliseconds - 1),
      endDate: new Date(end.epochMilliseconds),
    });
  } catch (e) {
    throw ruleError(e);
  }
  const collector = new Collector(input.limit, keep, (wall) => placeInZone(wall, input.timeZone));
  for (let step = 0; step < MAX_CRON_STEPS; step++) {
    let next: Date;
    try {
      next = it.next().toDate();
    } catch (e) {
      if (isBoundError(e)) break;
      throw ruleError(e);
    }
    const wall = Temporal.Instant.fromEpochMilliseconds(next.getTime())
      .toZonedDateTimeISO('UTC')
      .toPlainDateTime();
    if (!collector.offer(wall)) break;
  }
  return collector.found;
}
