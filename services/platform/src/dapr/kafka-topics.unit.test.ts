import { eventOfValue, pageOf } from './kafka-topics.js';

const record = (offset: number, key: string | null, value: unknown) => ({
  offset: BigInt(offset),
  timestamp: BigInt(Date.UTC(2026, 0, 1) + offset),
  key: key === null ? null : Buffer.from(key),
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
  headers: [[Buffer.from('traceparent'), Buffer.from('00-abc')]] as [Buffer | null, Buffer | null][],
});

describe('a Kafka fetch as a topic page', () => {
  const records = [3, 4, 5, 6, 7, 8].map((o) => record(o, o % 2 ? 'odd' : 'even', { id: `e${o}` }));

  test('skips what the first batch holds before the offset asked for, and stops at the limit', () => {
    const page = pageOf('payment-events', 2, records, { from: 5n, limit: 2, end: 9n });
    expect(page.messages.map((m) => m.position)).toEqual([5, 6]);
    expect(page.next).toBe(7);
    expect(page.messages[0]).toEqual({
      topic: 'payment-events',
      partition: 2,
      position: 5,
      key: 'odd',
      timestamp: new Date(Date.UTC(2026, 0, 1) + 5).toISOString(),
      headers: { traceparent: '00-abc' },
      event: { id: 'e5' },
    });
  });

  test('with a key, goes on after everything scanned; null once the log end is reached', () => {
    const page = pageOf('t', 0, records, { from: 3n, key: 'even', limit: 50, end: 9n });
    expect(page.messages.map((m) => m.position)).toEqual([4, 6, 8]);
    expect(page.next).toBeNull();
    const partial = pageOf('t', 0, records, { from: 3n, key: 'even', limit: 50, end: 100n });
    expect(partial.next).toBe(9);
  });

  test('a value that is not JSON is shown as text', () => {
    expect(eventOfValue(Buffer.from('not json'))).toBe('not json');
    expect(eventOfValue(null)).toBeNull();
  });
});
