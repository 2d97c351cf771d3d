/**
 * Wall-clock times in a named IANA zone, without a date library: a `datetime-local` value
 * ("2026-03-29T02:30") read in the task's zone becomes an instant, and back.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallOf(epochMs: number, timeZone: string): Wall {
  const parts: Record<string, number> = {};
  for (const p of partsFormatter(timeZone).formatToParts(new Date(epochMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour === 24 ? 0 : parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** The zone's offset from UTC at an instant, in minutes (east positive: Berlin in winter = 60). */
export function offsetMinutes(epochMs: number, timeZone: string): number {
  const w = wallOf(epochMs, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60000);
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    partsFormatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * The instant of a wall-clock time in a zone. A time that does not exist (skipped by a
 * daylight-saving jump) moves forward by the jump, as calendars do; an ambiguous one (repeated
 * when clocks go back) takes the earlier instant.
 */
export function zonedToInstant(local: string, timeZone: string): Date {
  const m = LOCAL.exec(local);
  if (!m) throw new Error(`not a local date-time: ${local}`);
  const [, y, mo, d, h, mi, s] = m;
  const asUtc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  // Try both offsets around the guess; keep the earliest that reproduces the wall time.
  const candidates = new Set<number>();
  for (const probe of [asUtc - 86400000, asUtc, asUtc + 86400000]) {
    candidates.add(asUtc - offsetMinutes(probe, timeZone) * 60000);
  }
  const exact = [...candidates]
    .filter((t) => toZonedLocal(new Date(t), timeZone, true) === normalise(local))
    .sort((a, b) => a - b);
  if (exact.length > 0) return new Date(exact[0]!);
  // In a gap: the offset before the jump, which lands after it.
  const before = offsetMinutes(asUtc - 86400000, timeZone);
  return new Date(asUtc - before * 60000);
}

function normalise(local: string): string {
  return local.length === 16 ? `${local}:00` : local;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `YYYY-MM-DDTHH:mm` (or with `:ss`) of an instant in a zone: the value of a `datetime-local`. */
export function toZonedLocal(instant: Date, timeZone: string, withSeconds = false): string {
  const w = wallOf(instant.getTime(), timeZone);
  const base = `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
  return withSeconds ? `${base}:${pad(w.second)}` : base;
}

/** ISO-8601 with the zone's offset: `2026-11-02T09:00:00+01:00`. */
export function toZonedIso(instant: Date, timeZone: string): string {
  const offset = offsetMinutes(instant.getTime(), timeZone);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${toZonedLocal(instant, timeZone, true)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** A date-time for people: "Mon, 2 Nov 2026, 09:00 CET" in the zone given. */
export function formatInZone(iso: string, timeZone: string, locale?: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat(locale, {
      timeZone,
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    }).format(date);
  } catch {
    return date.toISOString();
  }
}

/** "in 3 hours", "2 days ago". */
export function relativeTime(iso: string, now = Date.now(), locale?: string): string {
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 365 * 86400000],
    ['month', 30 * 86400000],
    ['week', 7 * 86400000],
    ['day', 86400000],
    ['hour', 3600000],
    ['minute', 60000],
  ];
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, ms] of units) {
    if (abs >= ms) return rtf.format(Math.round(diff / ms), unit);
  }
  return rtf.format(Math.round(diff / 1000), 'second');
}

/** The zones a person can choose from: the runtime's list, with UTC first. */
export function timeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  const rest = zones.filter((z) => z !== 'UTC');
  const local = browserTimeZone();
  if (!rest.includes(local) && local !== 'UTC') rest.push(local);
  return ['UTC', ...rest.sort()];
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}
