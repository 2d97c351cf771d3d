import { quietUntil } from './quiet-hours.js';

const at = (iso: string) => new Date(iso);

describe('quietUntil', () => {
  const overnight = { start: '22:00', end: '07:00', time_zone: 'Europe/Berlin' };

  it('is undefined without quiet hours or outside them', () => {
    expect(quietUntil(null, at('2025-06-10T12:00:00Z'))).toBeUndefined();
    // 12:00 UTC = 14:00 in Berlin (CEST)
    expect(quietUntil(overnight, at('2025-06-10T12:00:00Z'))).toBeUndefined();
    // 19:59 UTC = 21:59 local: one minute before the start
    expect(quietUntil(overnight, at('2025-06-10T19:59:00Z'))).toBeUndefined();
  });

  it('defers an overnight period to the next local end, before and after midnight', () => {
    // 23:30 local on the 10th → 07:00 local on the 11th = 05:00 UTC
    expect(quietUntil(overnight, at('2025-06-10T21:30:00Z'))?.toISOString()).toBe('2025-06-11T05:00:00.000Z');
    // 03:00 local on the 11th → 07:00 the same day
    expect(quietUntil(overnight, at('2025-06-11T01:00:00Z'))?.toISOString()).toBe('2025-06-11T05:00:00.000Z');
    // the start is inside, the end is not
    expect(quietUntil(overnight, at('2025-06-10T20:00:00Z'))?.toISOString()).toBe('2025-06-11T05:00:00.000Z');
    expect(quietUntil(overnight, at('2025-06-11T05:00:00Z'))).toBeUndefined();
  });

  it('handles a same-day period', () => {
    const lunch = { start: '12:00', end: '13:30', time_zone: 'UTC' };
    expect(quietUntil(lunch, at('2025-01-01T12:45:00Z'))?.toISOString()).toBe('2025-01-01T13:30:00.000Z');
    expect(quietUntil(lunch, at('2025-01-01T13:30:00Z'))).toBeUndefined();
    expect(quietUntil(lunch, at('2025-01-01T11:59:59Z'))).toBeUndefined();
  });

  it('ends at the local time across a DST change', () => {
    // Night of 29→30 March 2025: Berlin moves from +01:00 to +02:00 at 02:00.
    // 23:00 local (+01:00) = 22:00 UTC; quiet ends 07:00 local (+02:00) = 05:00 UTC.
    expect(quietUntil(overnight, at('2025-03-29T22:00:00Z'))?.toISOString()).toBe('2025-03-30T05:00:00.000Z');
  });

  it('treats equal start and end as no quiet period', () => {
    expect(
      quietUntil({ start: '08:00', end: '08:00', time_zone: 'UTC' }, at('2025-01-01T08:00:00Z')),
    ).toBeUndefined();
  });
});
