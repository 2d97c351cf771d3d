import { randomUUID } from 'node:crypto';
import { saramaPartition } from '../../../../scripts/stack/kafka.js';
import { type DaprTestApp, startDaprTestApp } from '../../../../scripts/stack/test-app.js';
import { eventEnvelope } from '../test-support/events.js';

// Real daprd + Kafka from `bash scripts/stack/stack.sh up`: events published through the sidecar,
// read back by the topic browser straight from the broker (one Fetch, no consumer group).
const run = randomUUID().slice(0, 8);
const topic = `e2e-topics-${run}`;
const KEY = `wallet-${run}`;
const OTHER = `wallet-other-${run}`;

/** The n-th task.created of the user `key`, as task-api publishes it. */
const envelope = (n: number, key: string) =>
  eventEnvelope(
    'task.created',
    { user_id: key, task_id: `task-${run}-${n}`, task_version: 1 },
    {},
    { sequence: n },
  );

describe('the Kafka topic browser', () => {
  let app: DaprTestApp;

  beforeAll(async () => {
    app = await startDaprTestApp({ appId: 'e2e-topics' });
  }, 60_000);
  afterAll(async () => {
    await app?.ports.topics?.close?.();
    await app?.close();
  }, 60_000);

  test('lists the topic and pages its messages by offset, key and time, with the CloudEvent', async () => {
    const browser = app.ports.topics!;
    expect(browser).toBeDefined();
    const events = [0, 1, 2, 3].map((n) => envelope(n, KEY));
    await app.ports.bus.publish(events.map((event) => ({ topic, partitionKey: KEY, event })));
    await app.ports.bus.publish([{ topic, partitionKey: OTHER, event: envelope(9, OTHER) }]);

    const count = (ps: { start: number; end: number }[]) => ps.reduce((n, p) => n + p.end - p.start, 0);
    let partitions: { partition: number; start: number; end: number }[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      partitions = (await browser.topics()).find((t) => t.topic === topic)?.partitions ?? [];
      if (count(partitions) >= 5) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(count(partitions)).toBe(5);

    // daprd's producer partitions by sarama's hash of the key.
    const partition = saramaPartition(KEY, partitions.length);
    const page = (await browser.read(topic, { partition, key: KEY, limit: 10 }))!;
    expect(page.messages).toHaveLength(4);
    expect(page.messages.map((m) => m.key)).toEqual([KEY, KEY, KEY, KEY]);
    expect(page.messages.map((m) => JSON.stringify(m.event))).toEqual(
      events.map((e) => expect.stringContaining(String((e.data as { task_id: string }).task_id))),
    );
    const first = page.messages[0]!;
    expect(first).toMatchObject({ topic, partition });
    expect(Date.parse(first.timestamp)).toBeGreaterThan(Date.now() - 5 * 60_000);

    // From an offset: the rest; a small limit: a next page.
    const rest = (await browser.read(topic, {
      partition,
      key: KEY,
      from: page.messages[2]!.position,
      limit: 10,
    }))!;
    expect(rest.messages.map((m) => m.position)).toEqual(page.messages.slice(2).map((m) => m.position));
    const small = (await browser.read(topic, { partition, key: KEY, limit: 1 }))!;
    expect(small.messages).toHaveLength(1);
    expect(small.next).toBe(small.messages[0]!.position + 1);
    // From a time after everything: nothing; an unknown topic: undefined.
    const later = (await browser.read(topic, {
      partition,
      since: new Date(Date.now() + 60_000),
      limit: 10,
    }))!;
    expect(later).toEqual({ messages: [], next: null });
    expect(await browser.read(`e2e-topics-none-${run}`, { partition: 0, limit: 1 })).toBeUndefined();
  }, 120_000);
});
