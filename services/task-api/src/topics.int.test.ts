import { randomUUID } from 'node:crypto';
import type { Envelope } from '@taskstream/platform';
import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';

/** The admin topic browser on the embedded runtime: the event log read as topics. */
describe('topic browser (embedded event log)', () => {
  let rt: TestRuntime;
  let admin: string;
  let user: string;
  const topic = `browse-${randomUUID().slice(0, 8)}`;
  const other = `browse-other-${randomUUID().slice(0, 8)}`;
  const keys = ['wallet-a', 'wallet-b'];
  const published: { id: string; key: string }[] = [];
  const event = (key: string, n: number): Envelope => ({
    specversion: '1.0',
    id: randomUUID(),
    type: 'com.taskstream.test.browsed',
    source: '/test',
    time: new Date().toISOString(),
    data: { user_id: randomUUID(), n, key },
  });
  const get = (path: string, token = admin) => rt.request('GET', path, { token });

  beforeAll(async () => {
    rt = await startTestRuntime([createTaskApiService]);
    admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    user = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    // Nobody consumes these topics: the browser reads what is kept, consumed or not.
    for (let n = 0; n < 12; n++) {
      const key = keys[n % 3 === 0 ? 1 : 0]!;
      const e = event(key, n);
      published.push({ id: e.id, key });
      await rt.ports.bus.publish([{ topic, partitionKey: key, event: e }]);
      await rt.ports.bus.publish([{ topic: other, partitionKey: key, event: event(key, n) }]);
    }
  });
  afterAll(async () => rt?.close());

  it('lists the topics with their oldest and next positions', async () => {
    const res = await get('/api/admin/topics');
    expect(res.status).toBe(200);
    const entry = res.body.topics.find((t: { topic: string }) => t.topic === topic);
    expect(entry.partitions).toHaveLength(1);
    expect(entry.partitions[0].end).toBeGreaterThan(entry.partitions[0].start);
  });

  it('pages through a topic by position, in order, with key, timestamp, headers and the CloudEvent', async () => {
    const first = await get(`/api/admin/topics/${topic}/messages?limit=5`);
    expect(first.status).toBe(200);
    expect(first.body.messages).toHaveLength(5);
    expect(first.body.messages[0]).toMatchObject({
      topic,
      partition: 0,
      key: published[0]!.key,
      headers: {},
      event: { id: published[0]!.id, specversion: '1.0', type: 'com.taskstream.test.browsed' },
    });
    expect(Date.parse(first.body.messages[0].timestamp)).not.toBeNaN();
    const seen = [...first.body.messages];
    let next = first.body.next;
    while (next !== null) {
      const page = await get(`/api/admin/topics/${topic}/messages?limit=5&from=${next}`);
      seen.push(...page.body.messages);
      next = page.body.next;
    }
    // Every message of this topic once, in publish order; none of the other topic.
    expect(seen.map((m) => m.event.id)).toEqual(published.map((p) => p.id));
  });

  it('filters by key and starts at a time', async () => {
    const byKey = await get(`/api/admin/topics/${topic}/messages?key=wallet-b&limit=200`);
    expect(byKey.body.messages.map((m: { event: { id: string } }) => m.event.id)).toEqual(
      published.filter((p) => p.key === 'wallet-b').map((p) => p.id),
    );
    const future = new Date(Date.now() + 60_000).toISOString();
    const later = await get(`/api/admin/topics/${topic}/messages?since=${encodeURIComponent(future)}`);
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({ messages: [], next: null });
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const all = await get(`/api/admin/topics/${topic}/messages?since=${encodeURIComponent(past)}&limit=200`);
    expect(all.body.messages).toHaveLength(published.length);
  });

  it('bounds and checks its input, and answers only admins', async () => {
    expect((await get(`/api/admin/topics/${topic}/messages?limit=201`)).status).toBe(400);
    expect((await get(`/api/admin/topics/${topic}/messages?from=1&since=2025-01-01T00:00:00Z`)).status).toBe(
      400,
    );
    expect((await get(`/api/admin/topics/${topic}/messages?from=-1`)).status).toBe(400);
    expect((await get('/api/admin/topics/no-such-topic/messages')).status).toBe(404);
    expect((await get(`/api/admin/topics/${topic}/messages?partition=1`)).status).toBe(404);
    expect((await get('/api/admin/topics/bad%20name/messages')).status).toBe(400);
    // Not an admin: refused as every /api/admin route refuses (403), and nothing of the topic shows.
    const refused = await get(`/api/admin/topics/${topic}/messages`, user);
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).not.toContain(published[0]!.id);
    expect((await get('/api/admin/topics', user)).status).toBe(403);
    expect((await rt.request('GET', '/api/admin/topics')).status).toBe(401);
  });
});
