import { CronExpressionParser } from 'cron-parser';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60000,
  h: 3600000,
};

/** A Go-style duration as the Jobs API takes it: "1h30m", "10s", "500ms". */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(n) * UNIT_MS[unit!]!;
  return total;
}

/** `dueTime` / `ttl`: an RFC 3339 time or a duration from now. */
export function parseTimeOrDuration(text: string, now: Date): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() + ms);
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new Error(`not an RFC 3339 time or a duration: ${text}`);
  return new Date(at);
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
};

/** The next run after `after` of a Jobs API schedule: "@every <duration>", a macro, or 6-field cron (UTC). */
export function nextScheduleTime(schedule: string, after: Date): Date {
  if (schedule.startsWith('@every ')) {
    const ms = parseDuration(schedule.slice(7).trim());
    if (!ms) throw new Error(`bad @every duration: ${schedule}`);
    return new Date(after.getTime() + ms);
  }
  const expression = MACROS[schedule] ?? schedule;
  return CronExpressionParser.parse(expression, { currentDate: after, tz: 'UTC' }).next().toDate();
}
