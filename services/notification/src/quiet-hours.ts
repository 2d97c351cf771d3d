import { Temporal } from 'temporal-polyfill';

export interface QuietHours {
  /** Local wall-clock times, `HH:MM`; a start after the end spans midnight (22:00–07:00). */
  start: string;
  end: string;
  time_zone: string;
}

/**
 * When `at` falls inside the quiet period, the instant that period ends (the next local `end`,
 * in the preferences' time zone, DST included); otherwise undefined. Equal start and end mean
 * no quiet period.
 */
export function quietUntil(quiet: QuietHours | null | undefined, at: Date): Date | undefined {
  if (!quiet || quiet.start === quiet.end) return undefined;
  const local = Temporal.Instant.fromEpochMilliseconds(at.getTime()).toZonedDateTimeISO(quiet.time_zone);
  const time = local.toPlainTime();
  const start = Temporal.PlainTime.from(quiet.start);
  const end = Temporal.PlainTime.from(quiet.end);
  const cmp = Temporal.PlainTime.compare;
  const inside =
    cmp(start, end) < 0
      ? cmp(time, start) >= 0 && cmp(time, end) < 0
      : cmp(time, start) >= 0 || cmp(time, end) < 0;
  if (!inside) return undefined;
  let until = local.withPlainTime(end);
  if (Temporal.ZonedDateTime.compare(until, local) <= 0) until = local.add({ days: 1 }).withPlainTime(end);
  return new Date(until.epochMilliseconds);
}
