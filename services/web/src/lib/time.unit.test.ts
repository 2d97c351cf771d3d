import {
  formatInZone,
  offsetMinutes,
  relativeTime,
  timeZones,
  toZonedIso,
  toZonedLocal,
  zonedToInstant,
} from './time.js';

describe('wall-clock times in a zone', () => {
  it('reads a local date-time in the zone given, not the machine’s', () => {
    expect(zonedToInstant('2026-11-24T09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-11-24T08:00:00.000Z',
    );
    expect(zonedToInstant('2026-07-01T09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-07-01T07:00:00.000Z',
    );
    expect(zonedToInstant('2026-07-01T09:00:30', 'America/New_York').toISOString()).toBe(
      '2026-07-01T13:00:30.000Z',
    );
    expect(zonedToInstant('2026-01-01T00:00', 'Asia/Kolkata').toISOString()).toBe('2025-12-31T18:30:00.000Z');
    expect(zonedToInstant('2026-01-01T00:00', 'UTC').toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('moves a time skipped by the spring jump forward by the jump', () => {
    // Berlin: 2026-03-29 02:00 → 03:00; 02:30 does not exist and becomes 03:30 CEST.
    expect(zonedToInstant('2026-03-29T02:30', 'Europe/Berlin').toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
    expect(toZonedLocal(zonedToInstant('2026-03-29T02:30', 'Europe/Berlin'), 'Europe/Berlin')).toBe(
      '2026-03-29T03:30',
    );
  });

  it('takes the earlier of a time repeated in autumn', () => {
    // Berlin: 2026-10-25 03:00 CEST → 02:00 CET; 02:30 happens twice.
    expect(zonedToInstant('2026-10-25T02:30', 'Europe/Berlin').toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
  });

  it('round-trips every hour of a year through the zone', () => {
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 3_600_000) {
      for (const zone of ['Europe/Berlin', 'America/Sao_Paulo', 'Australia/Lord_Howe']) {
        const local = toZonedLocal(new Date(t), zone, true);
        const back = zonedToInstant(local, zone).getTime();
        // Only the second pass of a repeated hour maps to its first pass.
        if (back !== t) expect(t - back).toBeGreaterThan(0);
        expect(toZonedLocal(new Date(back), zone, true)).toBe(local);
      }
    }
  });

  it('writes ISO-8601 with the zone offset', () => {
    const instant = new Date('2026-11-24T08:00:00Z');
    expect(toZonedIso(instant, 'Europe/Berlin')).toBe('2026-11-24T09:00:00+01:00');
    expect(toZonedIso(instant, 'America/St_Johns')).toBe('2026-11-24T04:30:00-03:30');
    expect(offsetMinutes(instant.getTime(), 'Asia/Kathmandu')).toBe(345);
  });

  it('rejects what is not a local date-time', () => {
    expect(() => zonedToInstant('24.11.2026 09:00', 'UTC')).toThrow('not a local date-time');
  });

  it('formats for people in the task’s zone', () => {
    expect(formatInZone('2026-11-24T08:00:00Z', 'Europe/Berlin', 'en-GB')).toMatch(/24 Nov 2026.*09:00/);
    expect(formatInZone('not a date', 'UTC')).toBe('not a date');
    const now = Date.parse('2026-11-24T08:00:00Z');
    expect(relativeTime('2026-11-24T11:00:00Z', now, 'en')).toBe('in 3 hours');
    expect(relativeTime('2026-11-22T08:00:00Z', now, 'en')).toBe('2 days ago');
  });

  it('offers UTC first and the zone database after it', () => {
    const zones = timeZones();
    expect(zones[0]).toBe('UTC');
    expect(zones).toContain('Europe/Berlin');
    expect(new Set(zones).size).toBe(zones.length);
  });
});
