import { randomUUID } from 'node:crypto';
import { endOffsets } from '../../../../scripts/stack/kafka.js';
import { type DaprTestApp, startDaprTestApp, waitFor } from '../../../../scripts/stack/test-app.js';
import type { Envelope } from '../ports.js';

// Real daprd + Kafka from `bash scripts/stack/stack.sh up`. The app's consumer group is its app id
// (the `pubsub` component's `{appID}`); a fresh topic per run, so earlier runs leave nothing on it.
const APP_ID = 'e2e-lag';
const run = randomUUID().slice(0, 8);
const topic = `e2e-lag-${run}`;
// One key: every event on one partition, handed to the app one at a time, in order.
const KEY = `user-lag-${run}`;

function envelope(n: number): Envelope {
  return {
    specversion: '1.0',
    id: randomUUID(),
    type: 'com.taskstream.task.created',
    source: 'taskstream/e2e',
    time: new Date().toISOString(),
    subject: `task-${n}`,
    datacontenttype: 'application/json',
    data: { user_id: KEY, task_id: `task-${n}`, sequence: n },
  };
}

/** A handler that holds every event while the gate is shut. */
function gate() {
  let open: () => void = () => undefined;
  let opened = Promise.resolve();
  return {
    shut() {
      opened = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
    open: () => open(),
    wait: () => opened,
  };
}

describe('dapr EventBus lag(): Kafka log end minus the consumer group’s committed offset', () => {
  const handled: Envelope[] = [];
  const started: Envelope[] = [];
  const held = gate();
  let app: DaprTestApp;

  beforeAll(async () => {
    app = await startDaprTestApp({
      appId: APP_ID,
      configure: ({ bus }) => {
        bus.subscribe({
          topic,
          consumer: 'e2e-lag',
          handler: async (event) => {
            started.push(event);
            await held.wait();
            handled.push(event);
          },
        });
      },
    });
  }, 60_000);

  afterAll(async () => {
    held.open();
    await app?.close();
  }, 60_000);

  async function lagOfTopic(): Promise<number | undefined> {
    const lag = await app.ports.bus.lag!();
    return lag.find((l) => l.consumer === APP_ID && l.topic === topic)?.lag;
  }

  /** Polls the lag until it equals `want` (the group commits about once a second). */
  async function lagBecomes(want: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last: number | undefined;
    while (Date.now() < deadline) {
      last = await lagOfTopic();
      if (last === want) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`lag of ${APP_ID} on ${topic} stayed ${last}, not ${want}`);
  }

  async function publish(from: number, count: number) {
    const events = Array.from({ length: count }, (_, i) => envelope(from + i));
    await app.ports.bus.publish(events.map((event) => ({ topic, partitionKey: KEY, event })));
    return events;
  }

  test('the dapr bus measures lag when it is given the brokers', () => {
    expect(typeof app.ports.bus.lag).toBe('function');
  });

  test('a new consumer stuck on its first event: every event of the topic counts, then 0 once handled', async () => {
    held.shut();
    const events = await publish(0, 3);
    await waitFor('the first event in the handler', () => (started.length >= 1 ? true : undefined), 60_000);
    // Nothing committed yet on this topic: the group's member subscribes to it, and the group
    // (named after the app id) starts at the oldest event, so all three are behind.
    expect(await lagBecomes(3)).toBe(3);
    // Still held: the lag does not move while nothing is handled.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await lagOfTopic()).toBe(3);
    expect(handled).toHaveLength(0);

    held.open();
    await waitFor('all three handled', () => (handled.length === 3 ? true : undefined), 60_000);
    expect(handled.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(await lagBecomes(0)).toBe(0);
  }, 120_000);

  test('events published behind a held one count as lag from the committed offset, and drain to 0', async () => {
    held.shut();
    const before = handled.length;
    await publish(10, 5);
    await waitFor(
      'the next event in the handler',
      () => (started.length > before ? true : undefined),
      60_000,
    );
    // The log end is 3 + 5 = 8 and the group committed 3: five behind, the held one included.
    const end = [...(await endOffsets(topic)).values()].reduce((a, b) => a + b, 0);
    expect(end).toBe(8);
    expect(await lagBecomes(5)).toBe(5);

    held.open();
    await waitFor('all five handled', () => (handled.length === before + 5 ? true : undefined), 60_000);
    expect(await lagBecomes(0)).toBe(0);
  }, 120_000);
});
