import { jest } from '@jest/globals';
import { createLogger } from './logger.js';

function capture(intervalMs: number) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { LOG_LEVEL: 'info', NODE_ENV: 'test', LOG_REPEAT_INTERVAL_MS: intervalMs },
    'test',
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('repeated warnings and errors', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('the first is written, repeats become one line per interval with a count, then it is forgotten', () => {
    const { logger, lines } = capture(10_000);
    const child = logger.child({ component: 'poller' });
    for (let i = 0; i < 500; i++) child.warn({ attempt: i }, `poll failed; retrying in ${i} ms`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ component: 'poller', attempt: 0, msg: 'poll failed; retrying in 0 ms' });
    jest.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      repeated: 499,
      msg: 'poll failed; retrying in 0 ms (repeated 499 more times in 10 s)',
    });
    child.warn('poll failed; retrying in 7 ms'); // still repeating: counted for the next interval
    jest.advanceTimersByTime(10_000);
    expect(lines.map((l) => l.repeated)).toEqual([undefined, 499, 1]);
    jest.advanceTimersByTime(10_000); // a quiet interval ends the count
    child.warn('poll failed; retrying in 9 ms');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ msg: 'poll failed; retrying in 9 ms' });
  });

  test('every warning caused by an unreachable database is one group, whichever component logs it', () => {
    const { logger, lines } = capture(10_000);
    logger.child({ component: 'bus' }).error({ err: refused() }, 'consumer loop error');
    logger.child({ component: 'outbox' }).warn({ err: refused() }, 'outbox relay: publish failed');
    logger.warn({ error: new Error('timeout exceeded when trying to connect') }, 'job worker: poll');
    logger.error(refused(), 'consumer loop error');
    expect(lines.map((l) => l.msg)).toEqual(['consumer loop error']);
    jest.advanceTimersByTime(10_000);
    expect(lines[1]).toMatchObject({
      repeated: 3,
      msg: 'database unavailable (repeated 3 more times in 10 s)',
      by_message: { 'outbox relay: publish failed': 1, 'job worker: poll': 1, 'consumer loop error': 1 },
    });
  });

  test('info is never held back, other errors are not grouped with the database, and 0 turns it off', () => {
    const { logger, lines } = capture(10_000);
    for (let i = 0; i < 3; i++) logger.info('tick');
    logger.error({ err: new Error('boom') }, 'handler failed');
    logger.error({ err: refused() }, 'handler failed');
    expect(lines).toHaveLength(5);
    const off = capture(0);
    for (let i = 0; i < 3; i++) off.logger.error({ err: refused() }, 'x');
    expect(off.lines).toHaveLength(3);
  });
});
