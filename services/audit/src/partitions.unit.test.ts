import { isExpired, parsePartition, partitionFor, retentionCutoff } from './partitions.js';

describe('monthly partitions', () => {
  it('puts an instant into the UTC month that holds it', () => {
    expect(partitionFor(new Date('2025-01-31T23:59:59.999Z'))).toEqual({
      name: 'audit_logs_y2025m01',
      from: new Date('2025-01-01T00:00:00Z'),
      to: new Date('2025-02-01T00:00:00Z'),
    });
    // 00:30 on 1 February in Berlin is still January in UTC.
    expect(partitionFor(new Date('2025-02-01T00:30:00+01:00')).name).toBe('audit_logs_y2025m01');
    expect(partitionFor(new Date('2024-12-15T00:00:00Z')).to).toEqual(new Date('2025-01-01T00:00:00Z'));
  });

  it('reads bounds back from a name and ignores other tables', () => {
    expect(parsePartition('audit_logs_y2024m12')).toEqual(partitionFor(new Date('2024-12-01T00:00:00Z')));
    expect(parsePartition('audit_logs_default')).toBeUndefined();
    expect(parsePartition('audit_logs_y2024m13')).toBeUndefined();
  });

  it('counts a month expired only when all of it is older than the cutoff', () => {
    const now = new Date('2025-05-10T12:00:00Z');
    const cutoff = retentionCutoff(now, 90); // 2025-02-09T12:00Z
    expect(cutoff).toEqual(new Date('2025-02-09T12:00:00Z'));
    expect(isExpired(parsePartition('audit_logs_y2025m01')!, cutoff)).toBe(true);
    expect(isExpired(parsePartition('audit_logs_y2025m02')!, cutoff)).toBe(false);
    expect(isExpired(parsePartition('audit_logs_y2025m05')!, cutoff)).toBe(false);
    expect(isExpired(parsePartition('audit_logs_y2025m01')!, new Date('2025-02-01T00:00:00Z'))).toBe(true);
    expect(isExpired(parsePartition('audit_logs_y2025m01')!, new Date('2025-01-31T23:59:59.999Z'))).toBe(
      false,
    );
  });
});
