import { type DestinationStream, type LogFn, type Logger, pino } from 'pino';
import type { Config } from './config.js';
import { isDatabaseUnavailable } from './db.js';

export type { Logger };

const WARN = 40;

/**
 * Repeats of a warning or error are counted, not written: the first occurrence is logged at once,
 * later ones within `intervalMs` only counted, and at the end of each interval in which it
 * repeated one line says how often (`repeated`, and `by_message` for a group). When an interval
 * passes without it, the next occurrence is logged at once again. Every warning or error caused
 * by the database being unreachable is one group, whichever component logs it: during an outage
 * every poller, consumer and request fails many times a second, and the log took thousands of
 * stack traces in seconds, burying the first one, which says what happened.
 */
export function repeatThrottle(intervalMs: number) {
  interface Seen {
    label: string;
    /** Per message shape: the first text seen and how often it repeated. */
    byMessage: Map<string, { msg: string; count: number }>;
    emit: (obj: object, msg: string) => void;
  }
  const seen = new Map<string, Seen>();
  const flush = (key: string) => {
    const entry = seen.get(key);
    if (!entry) return;
    const repeated = [...entry.byMessage.values()].reduce((sum, m) => sum + m.count, 0);
    if (repeated === 0) {
      seen.delete(key);
      return;
    }
    const byMessage =
      entry.byMessage.size > 1
        ? { by_message: Object.fromEntries([...entry.byMessage.values()].map((m) => [m.msg, m.count])) }
        : {};
    entry.byMessage = new Map();
    entry.emit(
      { repeated, interval_ms: intervalMs, ...byMessage },
      `${entry.label} (repeated ${repeated} more time${repeated === 1 ? '' : 's'} in ${intervalMs / 1000} s)`,
    );
    setTimeout(() => flush(key), intervalMs).unref();
  };
  return {
    /**
     * True when this call is to be written; false when it was only counted. `group` names calls
     * counted together (else the message is the key).
     */
    admit(level: number, msg: string, emit: (obj: object, msg: string) => void, group?: string): boolean {
      if (intervalMs <= 0 || level < WARN) return true;
      // Numbers in a message (a retry delay, a port) do not make it another message.
      const shape = msg.replace(/\d+/g, '#');
      const key = group ?? `${level}\u0000${shape}`;
      const entry = seen.get(key);
      if (entry) {
        const counted = entry.byMessage.get(shape) ?? { msg, count: 0 };
        counted.count++;
        entry.byMessage.set(shape, counted);
        entry.emit = emit;
        return false;
      }
      seen.set(key, { label: group ?? msg, byMessage: new Map(), emit });
      setTimeout(() => flush(key), intervalMs).unref();
      return true;
    },
  };
}

/** The error a log call carries: `log.warn(err, ...)` or `log.warn({ err }, ...)` (or `error`). */
function errorOf(first: unknown): unknown {
  if (first instanceof Error || first === null || typeof first !== 'object') return first;
  const fields = first as { err?: unknown; error?: unknown };
  return fields.err ?? fields.error;
}

/** JSON logs in production; pretty when a person watches a terminal. */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'> & { LOG_REPEAT_INTERVAL_MS?: number },
  name = 'taskstream',
  destination?: DestinationStream,
): Logger {
  const pretty = config.NODE_ENV === 'development' && process.stdout.isTTY && !destination;
  const throttle = repeatThrottle(config.LOG_REPEAT_INTERVAL_MS ?? 10_000);
  return pino(
    {
      name,
      level: config.LOG_LEVEL,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      transport: pretty
        ? { target: 'pino-pretty', options: { ignore: 'pid,hostname', translateTime: 'HH:MM:ss' } }
        : undefined,
      hooks: {
        logMethod(args, method, level) {
          const msg = args.find((a): a is string => typeof a === 'string') ?? '';
          const emit = (obj: object, text: string) => (method as LogFn).call(this, obj, text);
          const group =
            level >= WARN && isDatabaseUnavailable(errorOf(args[0])) ? 'database unavailable' : undefined;
          if (throttle.admit(level, msg, emit, group)) method.apply(this, args as Parameters<LogFn>);
        },
      },
    },
    destination,
  );
}
