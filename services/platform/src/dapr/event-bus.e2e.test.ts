import { randomUUID } from 'node:crypto';
import { readTopic, saramaPartition } from '../../../../scripts/stack/kafka.js';
import { type DaprTestApp, startDaprTestApp, waitFor } from '../../../../scripts/stack/test-app.js';
import type { DeliveryContext, Envelope } from '../ports.js';

// Real daprd + Kafka from `bash scripts/stack/stack.sh up`.
function envelope(userId: string, n: number): Envelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    type: 'com.taskstream.task.created',
    source: 'taskstream/e2e',
    time: new Date().toISOString(),
    subject: `task-${n}`,
    datacontenttype: 'application/json',
    dataschema: 'https://taskstream.dev/schemas/task.created/v1',
    traceparent: `00-${randomUUID().replaceAll('-', '')}-${randomUUID().replaceAll('-', '').slice(0, 16)}-01`,
    data: { user_id: userId, task_id: `task-${n}`, sequence: n },
  };
}

describe.each([
  ['one event per request', false],
  ['bulk deliveries', true],
])('dapr EventBus through daprd and Kafka, %s', (_mode, bulk) => {
  const run = `${randomUUID().slice(0, 8)}-${bulk ? 'bulk' : 'one'}`;
  const topic = `e2e-bus-${run}`;
  const failingTopic = `e2e-bus-failing-${run}`;
  const heldTopic = `e2e-bus-held-${run}`;
  /** Two keys on one of the stack's 4 partitions: their events share bulk deliveries. */
  const [keyA, keyB] = (() => {
    const first = `user-held-a-${run}`;
    for (let i = 0; ; i++) {
      const other = `user-held-b-${run}-${i}`;
      if (saramaPartition(other, 4) === saramaPartition(first, 4)) return [first, other];
    }
  })();

  const received: Envelope[] = [];
  const failures: { at: number; ctx: DeliveryContext }[] = [];
  const deadLetters: Envelope[] = [];
  const held: { key: string; sequence: number; type: string; attempt: number; at: number }[] = [];
  let app: DaprTestApp;

  beforeAll(async () => {
    app = await startDaprTestApp({
      appId: `e2e-bus-${bulk ? 'bulk' : 'one'}`,
      bulkSubscribe: bulk,
      configure: ({ bus }) => {
        bus.subscribe({ topic, consumer: 'e2e', handler: async (event) => void received.push(event) });
        bus.subscribe({
          topic: failingTopic,
          consumer: 'e2e-failing',
          handler: async (_event, ctx) => {
            failures.push({ at: Date.now(), ctx });
            throw new Error('database unavailable (test)');
          },
        });
        bus.subscribe({
          topic: heldTopic,
          consumer: 'e2e-held',
          types: ['com.taskstream.task.created'],
          handler: async (event, ctx) => {
            const { user_id: key, sequence } = event.data as { user_id: string; sequence: number };
            held.push({ key, sequence, type: event.type, attempt: ctx.attempt, at: Date.now() });
            if (key === keyA && sequence === 0 && ctx.attempt === 1)
              throw new Error('first attempt fails (test)');
          },
        });
        bus.subscribe({
          topic: `${failingTopic}.dlq`,
          consumer: 'e2e-dlq',
          handler: async (event) => void deadLetters.push(event),
        });
      },
    });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
  }, 60_000);

  test('a published event arrives as the CloudEvent we sent, keyed by its partition key on Kafka', async () => {
    const event = envelope('user-a', 1);
    await app.ports.bus.publish([{ topic, partitionKey: 'user-a', event }]);

    const got = await waitFor('delivery', () => received.find((e) => e.id === event.id));
    expect(got).toEqual(event); // id, type, time, subject, dataschema, traceparent, data: all as sent

    const records = await readTopic(topic, { max: 1 });
    expect(records).toHaveLength(1);
    expect(records[0].key).toBe('user-a');
    expect(JSON.parse(records[0].value)).toMatchObject({ id: event.id, traceparent: event.traceparent });
  }, 60_000);

  test('events of one partition key arrive in publish order', async () => {
    const a = Array.from({ length: 15 }, (_, i) => envelope('user-order-a', i));
    const b = Array.from({ length: 15 }, (_, i) => envelope('user-order-b', i));
    const interleaved = a.flatMap((e, i) => [
      { topic, partitionKey: 'user-order-a', event: e },
      { topic, partitionKey: 'user-order-b', event: b[i] },
    ]);
    await app.ports.bus.publish(interleaved);
    const ids = new Set([...a, ...b].map((e) => e.id));
    await waitFor('all 30 events', () =>
      received.filter((e) => ids.has(e.id)).length === 30 ? true : undefined,
    );
    const seqOf = (user: string) =>
      received
        .filter((e) => (e.data as { user_id: string }).user_id === user)
        .map((e) => (e.data as { sequence: number }).sequence);
    expect(seqOf('user-order-a')).toEqual([...Array(15).keys()]);
    expect(seqOf('user-order-b')).toEqual([...Array(15).keys()]);
  }, 60_000);

  test('a batch of many keys (bulk requests) arrives whole: each record keyed by its own key, each event as sent', async () => {
    const bulkTopic = `e2e-bus-bulk-${run}`;
    const users = Array.from({ length: 6 }, (_, u) => `user-bulk-${u}`);
    const events = users.flatMap((user) => [0, 1, 2].map((n) => ({ user, event: envelope(user, n) })));
    await app.ports.bus.publish(
      events.map(({ user, event }) => ({ topic: bulkTopic, partitionKey: user, event })),
    );
    const records = await readTopic(bulkTopic, { max: events.length, timeoutMs: 30_000 });
    expect(records).toHaveLength(events.length);
    for (const { user, event } of events) {
      const record = records.find((r) => JSON.parse(r.value).id === event.id);
      expect(record?.key).toBe(user);
      expect(JSON.parse(record!.value)).toMatchObject({
        id: event.id,
        type: event.type,
        subject: event.subject,
        traceparent: event.traceparent,
        data: event.data,
      });
    }
    // Per key, in publish order on its partition.
    for (const user of users) {
      const sequences = records
        .filter((r) => r.key === user)
        .map((r) => (JSON.parse(r.value).data as { sequence: number }).sequence);
      expect(sequences).toEqual([0, 1, 2]);
    }
  }, 90_000);

  test("one partition in bulk: a retried event holds back its own key's later events, each runs once in order; a type the subscription does not name never reaches the handler", async () => {
    const ofA = Array.from({ length: 5 }, (_, i) => envelope(keyA, i));
    const ofB = Array.from({ length: 5 }, (_, i) => envelope(keyB, i));
    const unnamed = { ...envelope(keyB, 99), type: 'com.taskstream.task.deleted' };
    await app.ports.bus.publish([
      ...ofA.map((event) => ({ topic: heldTopic, partitionKey: keyA, event })),
      ...ofB.slice(0, 2).map((event) => ({ topic: heldTopic, partitionKey: keyB, event })),
      { topic: heldTopic, partitionKey: keyB, event: unnamed },
      ...ofB.slice(2).map((event) => ({ topic: heldTopic, partitionKey: keyB, event })),
    ]);
    await waitFor('both keys done', () => (held.length >= 11 ? true : undefined), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // anything doubled would show by now

    const ran = (key: string) => held.filter((h) => h.key === key).map((h) => `${h.sequence}#${h.attempt}`);
    // keyA: its first event failed once and ran again; the events behind it waited, in order, once each.
    expect(ran(keyA)).toEqual(['0#1', '0#2', '1#1', '2#1', '3#1', '4#1']);
    // keyB shares the partition (and so its bulk deliveries): each of its events ran once, in order.
    expect(ran(keyB)).toEqual(['0#1', '1#1', '2#1', '3#1', '4#1']);
    expect(held.some((h) => h.type !== 'com.taskstream.task.created')).toBe(false);
  }, 60_000);

  test('sidecar callbacks refuse a caller without the app token', async () => {
    const response = await fetch(`http://127.0.0.1:${app.appPort}/dapr/subscribe`);
    expect(response.status).toBe(401);
    const withToken = await fetch(`http://127.0.0.1:${app.appPort}/dapr/subscribe`, {
      headers: { 'dapr-api-token': app.sidecar.config.APP_API_TOKEN },
    });
    expect(withToken.status).toBe(200);
  }, 60_000);

  test('a handler that keeps failing is retried after 1 s, 5 s, 25 s, then lands on <topic>.dlq with the error', async () => {
    const event = envelope('user-dlq', 1);
    await app.ports.bus.publish([{ topic: failingTopic, partitionKey: 'user-dlq', event }]);

    const dead = await waitFor('dead letter', () => deadLetters.find((e) => e.id === event.id), 90_000);
    expect(failures.map((f) => f.ctx.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = failures.slice(1).map((f, i) => f.at - failures[i].at);
    [1000, 5000, 25000].forEach((delay, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(delay);
      expect(gaps[i]).toBeLessThan(delay + 3000);
    });
    expect(dead).toMatchObject({
      id: event.id,
      type: event.type,
      data: event.data,
      deadletterreason: 'database unavailable (test)',
      deadletterconsumer: 'e2e-failing',
      deadletterattempts: 4,
    });

    // On Kafka, too: the dead letter keeps the original partition key.
    const records = await readTopic(`${failingTopic}.dlq`, { max: 1 });
    expect(records[0].key).toBe('user-dlq');
    expect(JSON.parse(records[0].value)).toMatchObject({
      id: event.id,
      deadletterreason: 'database unavailable (test)',
    });
    console.log(`retry gaps (ms): ${gaps.join(', ')}`);
  }, 120_000);
});
