import { randomUUID } from 'node:crypto';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { type SyncService, syncService } from './index.js';
import { CloseCodes } from './protocol.js';
import { onTaskUpdates, taskEvent } from './test-support/events.js';
import { SseProbe } from './test-support/sse-probe.js';
import { expiringToken } from './test-support/tokens.js';

const HISTORY = 25;

const syncOf = (rt: TestRuntime) => rt.services.find((s) => s.name === 'sync') as SyncService;

describe('sync over Server-Sent Events', () => {
  let rt: TestRuntime;
  const probes: SseProbe[] = [];
  const user = async (role: 'user' | 'admin' = 'user') => {
    const id = randomUUID();
    return { id, token: await rt.auth.sign({ userId: id, role }) };
  };
  const publish = (...events: ReturnType<typeof taskEvent>[]) =>
    rt.ports.bus.publish(onTaskUpdates(...events));
  const latest = async (token: string) =>
    (await rt.request('GET', '/api/sync/events?since=0&limit=1', { token })).body.latest as number;
  const stream = (query = '', headers: Record<string, string> = {}) => {
    const probe = new SseProbe(`${rt.url}/api/sync/stream${query}`, headers);
    probes.push(probe);
    return probe;
  };
  const bearer = (token: string, more: Record<string, string> = {}) => ({
    authorization: `Bearer ${token}`,
    ...more,
  });
  const ticketFor = async (token: string) => {
    const res = await rt.request('POST', '/api/sync/stream/ticket', { token });
    expect(res.status).toBe(201);
    return res.body.ticket as string;
  };

  beforeAll(async () => {
    rt = await startTestRuntime([syncService({ replicaId: 'sse', heartbeatMs: 300 })], {
      env: { SYNC_HISTORY_SIZE: String(HISTORY) },
    });
  });
  afterEach(() => {
    for (const p of probes.splice(0)) p.destroy();
  });
  afterAll(async () => rt?.close());

  it('resumes after Last-Event-ID with exactly the missed events in order, then streams live', async () => {
    const alice = await user();
    const events = Array.from({ length: 8 }, (_, i) => taskEvent(alice.id, { version: i + 1 }));
    for (const event of events) await publish(event);
    await eventually(async () => (await latest(alice.token)) === 8);

    const probe = stream('', bearer(alice.token, { 'last-event-id': '3' }));
    const res = await probe.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    await probe.live();
    // Five events (4..8), each with its sequence as the SSE id, then hello at 8.
    expect(probe.frames.map((f) => [f.event, f.id])).toEqual([
      ...[4, 5, 6, 7, 8].map((n) => ['event', String(n)]),
      ['hello', '8'],
    ]);
    expect(probe.messages.slice(0, 5).map((m) => (m.type === 'event' ? m.event.id : ''))).toEqual(
      events.slice(3).map((e) => e.id),
    );

    const live = taskEvent(alice.id, { version: 9 });
    await publish(live);
    await probe.waitFor((p) => p.frames.length === 7);
    expect(probe.frames.at(-1)).toMatchObject({ event: 'event', id: '9' });
    expect(probe.messages.at(-1)).toMatchObject({ type: 'event', sequence: 9, event: { id: live.id } });
  });

  it('takes since from the query when there is no Last-Event-ID, and sends resync beyond the window', async () => {
    const alice = await user();
    for (let i = 0; i < HISTORY + 5; i++) await publish(taskEvent(alice.id, { version: i + 1 }));
    await eventually(async () => (await latest(alice.token)) === HISTORY + 5);

    const old = stream('?since=2', bearer(alice.token));
    await old.live();
    expect(old.frames.map((f) => [f.event, f.id])).toEqual([
      ['resync', String(HISTORY + 5)],
      ['hello', String(HISTORY + 5)],
    ]);
    // Last-Event-ID (what an EventSource sends on its own) wins over a stale since in the URL.
    const recent = stream('?since=2', bearer(alice.token, { 'last-event-id': String(HISTORY + 3) }));
    await recent.live();
    expect(recent.frames.map((f) => f.id)).toEqual([
      String(HISTORY + 4),
      String(HISTORY + 5),
      String(HISTORY + 5),
    ]);
  });

  it("never sends one user's events to another, and applies the filters", async () => {
    const alice = await user();
    const bob = await user();
    const aliceAll = stream('', bearer(alice.token));
    const aliceTagged = stream('?tag=garden', bearer(alice.token));
    const bobAll = stream('', bearer(bob.token));
    await Promise.all([aliceAll.live(), aliceTagged.live(), bobAll.live()]);

    const plain = taskEvent(alice.id);
    const tagged = taskEvent(alice.id, { tags: ['garden'] });
    await publish(plain, tagged);
    const own = taskEvent(bob.id);
    await publish(own);
    await aliceAll.waitFor((p) => p.messages.filter((m) => m.type === 'event').length === 2);
    await bobAll.waitFor((p) => p.messages.some((m) => m.type === 'event'));
    await aliceTagged.waitFor((p) => p.messages.some((m) => m.type === 'event'));
    await new Promise((r) => setTimeout(r, 200));

    const ids = (p: SseProbe) => p.messages.flatMap((m) => (m.type === 'event' ? [m.event.id] : []));
    expect(ids(aliceAll)).toEqual([plain.id, tagged.id]);
    expect(ids(aliceTagged)).toEqual([tagged.id]);
    expect(ids(bobAll)).toEqual([own.id]);
  });

  it('opens with a single-use ticket, and refuses a used ticket, a token in the URL and no credentials', async () => {
    const alice = await user();
    const ticket = await ticketFor(alice.token);
    const first = stream(`?ticket=${ticket}`);
    expect((await first.response).statusCode).toBe(200);
    await first.live();

    const again = await stream(`?ticket=${ticket}`).refusal();
    expect(again.status).toBe(401);
    expect(again.body.error?.message).toContain('ticket');

    const inUrl = await stream(`?token=${alice.token}`).refusal();
    expect(inUrl.status).toBe(400);
    expect(inUrl.body.error?.message).toContain('no token in the URL');

    expect((await stream('').refusal()).status).toBe(401);
    expect((await stream(`?ticket=${'x'.repeat(43)}`).refusal()).status).toBe(401);
    expect((await stream('?since=abc', bearer(alice.token)).refusal()).status).toBe(400);
    expect((await stream('', bearer('not-a-jwt')).refusal()).status).toBe(401);
    // The ticket endpoint wants the token itself.
    expect((await rt.request('POST', '/api/sync/stream/ticket')).status).toBe(401);
  });

  it('sends heartbeat comments while idle', async () => {
    const alice = await user();
    const probe = stream('', bearer(alice.token));
    await probe.live();
    await probe.waitFor((p) => p.comments.filter((c) => c === 'ping').length >= 2, 5000);
  });

  it("ends a stream at its token's exp with a close event 4498, after what was sent before", async () => {
    const id = randomUUID();
    const token = await expiringToken(id, 2);
    const probe = stream('', bearer(token));
    await probe.live();
    await publish(taskEvent(id));
    await probe.ended;
    expect(probe.frames.map((f) => f.event)).toEqual(['hello', 'event', 'close']);
    expect(probe.close).toMatchObject({ code: CloseCodes.tokenExpired });
  });

  it('forgets a subscriber that went away, and counts connections per transport', async () => {
    const admin = await user('admin');
    const alice = await user();
    const before = syncOf(rt).stats().connections;
    const gone = stream('', bearer(alice.token));
    const staying = stream('', bearer(alice.token));
    await Promise.all([gone.live(), staying.live()]);
    expect(syncOf(rt).stats(alice.id)).toMatchObject({
      connections: 2,
      transports: { sse: 2, websocket: 0 },
    });

    const own = await rt.request('GET', '/api/sync/connections', { token: alice.token });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({
      scope: 'own',
      streams: [{ stream: 'tasks', connections: 2, transports: { sse: 2, websocket: 0 } }],
    });
    expect(own.body.streams[0].users).toBeUndefined();
    const all = await rt.request('GET', '/api/sync/connections', { token: admin.token });
    expect(all.body).toMatchObject({ scope: 'all', streams: [{ stream: 'tasks' }] });
    expect(all.body.streams[0].connections).toBeGreaterThanOrEqual(2);

    gone.destroy();
    await eventually(async () => syncOf(rt).stats(alice.id).connections === 1);
    // The one left still gets events: nothing of the other lingers in the fan-out.
    await publish(taskEvent(alice.id));
    await staying.waitFor((p) => p.messages.some((m) => m.type === 'event'));
    staying.destroy();
    await eventually(async () => syncOf(rt).stats().connections === before);
  });
});

describe('SSE limits', () => {
  const BOUND = 256 * 1024;
  let rt: TestRuntime;

  beforeAll(async () => {
    rt = await startTestRuntime(
      [
        syncService({
          replicaId: 'sse-limits',
          maxBufferedBytes: BOUND,
          heartbeatMs: 15000,
          slowCloseGraceMs: 2000,
        }),
      ],
      { env: { SYNC_HISTORY_SIZE: '10' } },
    );
  });
  afterAll(async () => rt?.close());

  it('drops a reader that stops reading instead of buffering for it without bound', async () => {
    const id = randomUUID();
    const probe = new SseProbe(`${rt.url}/api/sync/stream`, {
      authorization: `Bearer ${await rt.auth.sign({ userId: id, role: 'user' })}`,
    });
    await probe.live();
    probe.pause();
    const description = 'x'.repeat(50 * 1024);
    const sync = rt.services.find((s) => s.name === 'sync') as SyncService;
    for (let i = 0; i < 400 && sync.stats().connections > 0; i += 5)
      await rt.ports.bus.publish(
        onTaskUpdates(...Array.from({ length: 5 }, () => taskEvent(id, { description }))),
      );
    await eventually(async () => sync.stats().connections === 0, 30000);
    const stats = sync.stats();
    expect(stats.maxBufferedBytesSeen).toBeGreaterThan(0);
    expect(stats.maxBufferedBytesSeen).toBeLessThanOrEqual(BOUND);
    probe.destroy();
  });
});
