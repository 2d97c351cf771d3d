import { nextScheduleTime, parseDuration, parseTimeOrDuration } from './schedule.js';

describe('parseDuration (Go-style, as the Jobs API takes it)', () => {
  test.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1h30m', 5_400_000],
    ['2h45m30s', 9_930_000],
    ['1.5s', 1500],
    ['0.5h', 1_800_000],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 6);
  });

  test.each(['', '10', 's', '1d', '1 h', '-1s', '1h 30m', 'PT1H', '1.s', 'abc'])(
    '%j is not a duration',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe('parseTimeOrDuration (dueTime, ttl)', () => {
  const now = new Date('2026-03-01T10:00:00.000Z');

  test('a duration counts from now', () => {
    expect(parseTimeOrDuration('90s', now).toISOString()).toBe('2026-03-01T10:01:30.000Z');
  });

  test('an RFC 3339 time is that time, whatever its offset', () => {
    expect(parseTimeOrDuration('2026-03-02T08:30:00Z', now).toISOString()).toBe('2026-03-02T08:30:00.000Z');
    expect(parseTimeOrDuration('2026-03-02T08:30:00+02:00', now).toISOString()).toBe(
      '2026-03-02T06:30:00.000Z',
    );
    expect(parseTimeOrDuration('2026-03-02T08:30:00.250-05:00', now).toISOString()).toBe(
      '2026-03-02T13:30:00.250Z',
    );
  });

  test('anything else is an error naming the text', () => {
    expect(() => parseTimeOrDuration('next tuesday', now)).toThrow(/next tuesday/);
    expect(() => parseTimeOrDuration('', now)).toThrow();
  });
});

describe('nextScheduleTime (Dapr schedules, UTC)', () => {
  const after = new Date('2026-03-01T10:15:42.500Z');

  test('@every counts from the given time', () => {
    expect(nextScheduleTime('@every 1s', after).toISOString()).toBe('2026-03-01T10:15:43.500Z');
    expect(nextScheduleTime('@every 1h30m', after).toISOString()).toBe('2026-03-01T11:45:42.500Z');
  });

  test('a bad or zero @every is an error', () => {
    expect(() => nextScheduleTime('@every 0s', after)).toThrow(/@every/);
    expect(() => nextScheduleTime('@every soon', after)).toThrow(/@every/);
  });

  test.each([
    ['@hourly', '2026-03-01T11:00:00.000Z'],
    ['@daily', '2026-03-02T00:00:00.000Z'],
    ['@midnight', '2026-03-02T00:00:00.000Z'],
    ['@weekly', '2026-03-08T00:00:00.000Z'], // 2026-03-01 is a Sunday: the next one
    ['@monthly', '2026-04-01T00:00:00.000Z'],
    ['@yearly', '2027-01-01T00:00:00.000Z'],
    ['@annually', '2027-01-01T00:00:00.000Z'],
  ])('%s', (schedule, expected) => {
    expect(nextScheduleTime(schedule, after).toISOString()).toBe(expected);
  });

  test('6-field cron, seconds first, in UTC', () => {
    expect(nextScheduleTime('*/10 * * * * *', after).toISOString()).toBe('2026-03-01T10:15:50.000Z');
    expect(nextScheduleTime('0 30 9 * * *', after).toISOString()).toBe('2026-03-02T09:30:00.000Z');
    expect(nextScheduleTime('0 0 12 * * 1-5', after).toISOString()).toBe('2026-03-02T12:00:00.000Z'); // Monday
  });

  test('the next run is always after the given time', () => {
    const exact = new Date('2026-03-01T11:00:00.000Z');
    expect(nextScheduleTime('@hourly', exact).toISOString()).toBe('2026-03-01T12:00:00.000Z');
  });

  test('a malformed cron is an error', () => {
    expect(() => nextScheduleTime('every day at noon', after)).toThrow();
    expect(() => nextScheduleTime('61 * * * * *', after)).toThrow();
  });
});
