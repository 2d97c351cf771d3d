import { type Logger, pino } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** JSON logs in production; pretty when a person watches a terminal. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'NODE_ENV'>, name = 'taskstream'): Logger {
  const pretty = config.NODE_ENV === 'development' && process.stdout.isTTY;
  return pino({
    name,
    level: config.LOG_LEVEL,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    transport: pretty
      ? { target: 'pino-pretty', options: { ignore: 'pid,hostname', translateTime: 'HH:MM:ss' } }
      : undefined,
  });
}
