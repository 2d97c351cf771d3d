import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { lagOf } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { SyncClient, type WebSocketConstructor } from './client.js';
import { createEventStore, storeEvents } from './history.js';
import { type SyncService, syncService } from './index.js';
import { CloseCodes, type SyncedEvent } from './protocol.js';
import { notificationEvent, onTaskUpdates, taskEvent } from './test-support/events.js';
import { Probe } from './test-support/probe.js';
import { expiringToken } from './test-support/tokens.js';

const HISTORY = 25;

const syncOf = (rt: TestRuntime) => rt.services.find((s) => s.name === 'sync') as SyncService;
const publish = (rt: TestRuntime, ...events: ReturnType<typeof taskEvent>[]) =>
  rt.ports.bus.publish(onTaskUpdates(...events));

describe('sync over WebSocket', () => {
  let rt: TestRuntime;
  const probes: Probe[] = [];
  const clients: SyncClient[] = [];
  const probe = (options: ConstructorParameters<typeof Probe>[1]) => {
    const p = new Probe(rt.url, options);
    probes.push(p);
    return p;
  };
  const user = async () => {
    const id = randomUUID();
    return { id, token: await rt.auth.sign({ userId: id, role: 'user' }) };
  };

  beforeAll(async () => {
    rt = await startTestRuntime([syncService({ replicaId: 'one' })], {
      env: { SYNC_HISTORY_SIZE: String(HISTORY) },
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.stop();
    for (const p of probes.splice(0)) p.ws.terminate();
  });
  afterAll(async () => rt?.close());

  it('sends an update to both connections of its user and nothing to another user', async () => {
    const alice = await user();
    const bob = await user();
    const first = probe({ token: alice.token });
    const second = probe({ token: alice.token });
    const other = probe({ token: bob.token });
    expect(await first.live()).toBe(0);
    expect(await second.live()).toBe(0);
    await other.live();

    const update = taskEvent(alice.id, { title: 'for alice' });
    await publish(rt, update);
    for (const p of [first, second]) {
      const [message] = await p.waitForEvents(1);
      expect(message).toMatchObject({
        type: 'event',
        sequence: 1,
        event: { id: update.id, data: { user_id: alice.id } },
      });
    }
    // Bob's own event arrives after Alice's was fanned out; it must be the only one he sees.
    const own = taskEvent(bob.id, { title: 'for bob' });
    await publish(rt, own);
    await other.waitForEvents(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(other.events.map((m) => [m.sequence, m.event.id])).toEqual([[1, own.id]]);
    expect(first.events).toHaveLength(1);
  });

  it('replays exactly the 20 changes made while disconnected, in order, then streams live', async () => {
    const alice = await user();
    const seen: { sequence: number; id: string }[] = [];
    const client = () =>
      new SyncClient({
        url: rt.url,
        token: alice.token,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        since: seen.at(-1)?.sequence ?? 0,
        onEvent: (event, sequence) => seen.push({ sequence, id: event.id }),
      });

    const before = clients[clients.push(client().start()) - 1]!;
    await eventually(async () => before.state === 'open');
    const firstEvent = taskEvent(alice.id);
    await publish(rt, firstEvent);
    await eventually(async () => seen.length === 1);
    before.stop();

    const missed = Array.from({ length: 20 }, (_, i) => taskEvent(alice.id, { version: i + 2 }));
    for (const event of missed) await publish(rt, event); // one commit each, like 20 separate changes
    // Stored before the reconnect (not required, but makes "missed" mean missed).
    await eventually(
      async () =>
        (await rt.request('GET', '/api/sync/events?since=0', { token: alice.token })).body.latest === 21,
    );

    const after = clients[clients.push(client().start()) - 1]!;
    expect(after.urlFor()).toContain('since=1');
    await eventually(async () => after.state === 'open');
    expect(seen.slice(1)).toEqual(missed.map((e, i) => ({ sequence: i + 2, id: e.id })));

    const live = taskEvent(alice.id);
    await publish(rt, live);
    await eventually(async () => seen.length === 22);
    expect(seen.at(-1)).toEqual({ sequence: 22, id: live.id });
  });

  it('has no gap and no duplicate when events are stored while the replay runs', async () => {
    const alice = await user();
    const early = Array.from({ length: 15 }, () => taskEvent(alice.id));
    for (const event of early) await publish(rt, event);
    await eventually(
      async () =>
        (await rt.request('GET', '/api/sync/events?since=0', { token: alice.token })).body.latest === 15,
    );

    const late = Array.from({ length: 40 }, () => taskEvent(alice.id));
    const publishing = (async () => {
      for (const event of late) await publish(rt, event);
    })();
    const p = probe({ token: alice.token, since: 3 });
    await publishing;
    const received = await p.waitForEvents(52);
    await new Promise((r) => setTimeout(r, 200));
    expect(p.events.map((m) => m.sequence)).toEqual(Array.from({ length: 52 }, (_, i) => i + 4));
    expect(received.map((m) => m.event.id)).toEqual([...early.slice(3), ...late].map((e) => e.id));
  });

  it('sends resync when since is older than the kept window, then goes on live', async () => {
    const alice = await user();
    const events = Array.from({ length: HISTORY + 5 }, () => taskEvent(alice.id));
    await publish(rt, ...events);
    await eventually(
      async () =>
        (await rt.request('GET', '/api/sync/events?since=0', { token: alice.token })).body.latest === 30,
    );

    const p = probe({ token: alice.token, since: 2 });
    expect(await p.live()).toBe(30);
    expect(p.messages.slice(0, 2)).toEqual([
      { type: 'resync', sequence: 30 },
      { type: 'hello', sequence: 30 },
    ]);
    // One behind the window's start is still inside it.
    const inside = probe({ token: alice.token, since: 5 });
    await inside.live();
    expect(inside.events.map((m) => m.sequence)).toEqual(Array.from({ length: 25 }, (_, i) => i + 6));

    const next = taskEvent(alice.id);
    await publish(rt, next);
    const [message] = await p.waitForEvents(1);
    expect(message).toMatchObject({ sequence: 31, event: { id: next.id } });

    // A client that claims a position the server never reached (history reset) resyncs too.
    const ahead = probe({ token: alice.token, since: 500 });
    await ahead.live();
    expect(ahead.messages[0]).toEqual({ type: 'resync', sequence: 31 });

    // The SyncClient reports it to the application.
    const resyncs: number[] = [];
    const client = new SyncClient({
      url: rt.url,
      token: alice.token,
      since: 1,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: () => undefined,
      onResync: (sequence) => resyncs.push(sequence),
    }).start();
    clients.push(client);
    await eventually(async () => client.state === 'open');
    expect(resyncs).toEqual([31]);
    expect(client.lastSequence).toBe(31);
  });

  it('serves the same history over REST', async () => {
    const alice = await user();
    const events = Array.from({ length: HISTORY + 3 }, () => taskEvent(alice.id));
    await publish(rt, ...events);
    await eventually(
      async () =>
        (await rt.request('GET', '/api/sync/events?since=0', { token: alice.token })).body.latest === 28,
    );

    const page = await rt.request('GET', '/api/sync/events?since=10&limit=5', { token: alice.token });
    expect(page.status).toBe(200);
    expect(page.body.resync).toBe(false);
    expect(
      page.body.events.map((m: { sequence: number; event: SyncedEvent }) => [m.sequence, m.event.id]),
    ).toEqual(events.slice(10, 15).map((e, i) => [11 + i, e.id]));
    const gone = await rt.request('GET', '/api/sync/events?since=1', { token: alice.token });
    expect(gone.body).toEqual({ events: [], resync: true, latest: 28 });
    const upToDate = await rt.request('GET', '/api/sync/events?since=28', { token: alice.token });
    expect(upToDate.body).toEqual({ events: [], resync: false, latest: 28 });

    const bob = await user();
    expect((await rt.request('GET', '/api/sync/events?since=0', { token: bob.token })).body).toEqual({
      events: [],
      resync: false,
      latest: 0,
    });
    expect((await rt.request('GET', '/api/sync/events?since=0')).status).toBe(401);
    const bad = await rt.request('GET', '/api/sync/events?since=-1', { token: bob.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('since');
  });

  it('closes with 4401 before any data when the token is bad', async () => {
    const forged = await (async () => {
      const { createAuth } = await import('@taskstream/platform');
      const other = createAuth({
        secret: 'another-secret-another-secret-0123456789',
        issuer: 'taskstream',
        audience: 'taskstream',
        ttlSeconds: 60,
      });
      return other.sign({ userId: randomUUID(), role: 'user' });
    })();
    for (const options of [{ token: 'not-a-jwt' }, { token: forged }, {}]) {
      const p = probe(options);
      const { code, reason } = await p.closed;
      expect(code).toBe(CloseCodes.unauthorized);
      expect(reason).toMatch(/token/);
      expect(p.messages).toEqual([]);
    }
    const malformed = probe({ token: (await user()).token, query: { since: 'yesterday' } });
    expect((await malformed.closed).code).toBe(CloseCodes.badRequest);
  });

  it('closes with 1013 (reconnect later), not 4401, when the token issuer cannot be reached', async () => {
    const unreachable = await startTestRuntime([syncService({ replicaId: 'jwks' })], {
      env: { JWKS_URL: 'http://127.0.0.1:1/.well-known/jwks.json' }, // nothing listens there
    });
    try {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const exp = Math.floor(Date.now() / 1000) + 60;
      const token = `${part({ alg: 'RS256', kid: 'k1' })}.${part({ sub: 'u', exp })}.${part({})}`;
      const p = new Probe(unreachable.url, { token });
      probes.push(p);
      const { code, reason } = await p.closed;
      expect(code).toBe(CloseCodes.tryAgainLater);
      expect(reason).toMatch(/key set/);
      expect(p.messages).toEqual([]);
    } finally {
      await unreachable.close();
    }
  });

  it('leaves upgrades of other paths to their owners', async () => {
    const other = new WebSocket(`${rt.url.replace('http', 'ws')}/ws/elsewhere`);
    const outcome = await new Promise<string>((resolve) => {
      other.on('open', () => resolve('opened'));
      other.on('error', (err) => resolve(`error: ${err.message}`));
      setTimeout(() => resolve('pending'), 300);
    });
    // Nobody answers that path in this runtime; the socket is neither upgraded nor destroyed by sync.
    expect(outcome).toBe('pending');
    other.terminate();
  });

  it('applies per-connection filters by task, status and tag', async () => {
    const alice = await user();
    const watched = randomUUID();
    const byTag = probe({ token: alice.token, query: { tag: 'work,urgent', status: 'pending' } });
    const byTask = probe({ token: alice.token, query: { task_id: watched } });
    await byTag.live();
    await byTask.live();

    const home = taskEvent(alice.id, { tags: ['home'] });
    const work = taskEvent(alice.id, { tags: ['work'], taskId: watched });
    const doneWork = taskEvent(alice.id, { type: 'task.completed', tags: ['work'] });
    const urgent = taskEvent(alice.id, { tags: ['urgent', 'home'] });
    const note = notificationEvent(alice.id, watched);
    await publish(rt, home, work, doneWork, urgent, note);

    await byTag.waitForEvents(2);
    await byTask.waitForEvents(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(byTag.events.map((m) => [m.sequence, m.event.id])).toEqual([
      [2, work.id],
      [4, urgent.id],
    ]);
    expect(byTask.events.map((m) => [m.sequence, m.event.id])).toEqual([
      [2, work.id],
      [5, note.id],
    ]);
    // The same filters apply to a replay.
    const replay = probe({ token: alice.token, since: 0, query: { tag: 'urgent' } });
    expect(await replay.live()).toBe(5);
    expect(replay.events.map((m) => m.event.id)).toEqual([urgent.id]);
  });

  it('stores a redelivered event once and sends invalid events to the dead-letter topic', async () => {
    const alice = await user();
    const p = probe({ token: alice.token });
    await p.live();
    const event = taskEvent(alice.id);
    await publish(rt, event, event, event);
    const next = taskEvent(alice.id);
    await publish(rt, next);
    await p.waitForEvents(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(p.events.map((m) => [m.sequence, m.event.id])).toEqual([
      [1, event.id],
      [2, next.id],
    ]);
    const { rows } = await rt.pool.query('SELECT count(*)::int AS n FROM sync_inbox WHERE user_id = $1', [
      alice.id,
    ]);
    expect(rows[0].n).toBe(2);

    const broken = taskEvent(alice.id);
    (broken.data as { payload: unknown }).payload = { task: { id: 'nope' } };
    await publish(rt, broken);
    const dead = await eventually(async () => {
      const result = await rt.pool.query('SELECT reason FROM dead_letters WHERE event_id = $1', [broken.id]);
      return result.rows[0] as { reason: string } | undefined;
    });
    expect(dead.reason).toMatch(/invalid task\.updated event .*payload\.task/);
  });
});

// A full collection before each memory reading, without starting jest under --expose-gc.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
/**
 * Buffers in use after collection. V8 frees ArrayBuffer memory on a background thread after a
 * collection, and sockets and pg may still hand over what they read; so collect, let those
 * finish, and collect again before reading the figure.
 */
async function settledArrayBuffers() {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 200));
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

describe('sync limits', () => {
  let rt: TestRuntime;
  let pinging: TestRuntime;
  const BOUND = 256 * 1024;

  beforeAll(async () => {
    rt = await startTestRuntime(
      [
        syncService({
          replicaId: 'limits',
          maxBufferedBytes: BOUND,
          heartbeatMs: 15000,
          slowCloseGraceMs: 15000,
        }),
      ],
      { env: { SYNC_HISTORY_SIZE: '10' } },
    );
    pinging = await startTestRuntime([syncService({ replicaId: 'heartbeat', heartbeatMs: 250 })], {
      database: rt.database,
    });
  });
  afterAll(async () => {
    await pinging?.close();
    await rt?.close();
  });

  it('disconnects a client that never reads before its buffer passes the bound', async () => {
    const id = randomUUID();
    const p = new Probe(rt.url, { token: await rt.auth.sign({ userId: id, role: 'user' }) });
    await p.live();
    // The client stops reading: its socket is paused, so kernel buffers fill, then ws's own.
    (p.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const description = 'x'.repeat(50 * 1024);
    const flood = Array.from({ length: 500 }, () => taskEvent(id, { description }));
    const arrayBuffersBefore = await settledArrayBuffers();
    let peakBuffered = 0;
    const sampler = setInterval(() => {
      peakBuffered = Math.max(peakBuffered, syncOf(rt).stats().bufferedBytes);
    }, 5);
    // Five at a time: the test's own statements stay small, so the process-wide figure below
    // counts what the server holds, not buffers of the test's publishing.
    for (let i = 0; i < flood.length; i += 5) await publish(rt, ...flood.slice(i, i + 5));
    await eventually(async () => syncOf(rt).stats().connections === 0, 30000);
    clearInterval(sampler);
    // Both replicas through the flood: what a batch still in hand holds is not the client's.
    const lag = lagOf(rt.ports.bus)!;
    await eventually(async () => (await lag()).every((c) => c.lag === 0), 30000);

    const stats = syncOf(rt).stats();
    // 25 MB went out towards the client; the server held at most the bound for it.
    expect(stats.maxBufferedBytesSeen).toBeGreaterThan(0);
    expect(stats.maxBufferedBytesSeen).toBeLessThanOrEqual(BOUND);
    expect(peakBuffered).toBeLessThanOrEqual(BOUND);
    // Collected first, so what remains is what the server holds, not garbage the test's own publishing left.
    const grown = (await settledArrayBuffers()) - arrayBuffersBefore;
    // What the server still holds after collection: the bound plus slack for its own bookkeeping.
    expect(grown).toBeLessThan(4 * BOUND);

    // Reading again, the client finds the reason after what had been sent.
    (p.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await p.closed;
    expect(code).toBe(CloseCodes.slowConsumer);
    expect(reason).toContain('not reading');
    expect(p.events.length).toBeLessThan(flood.length);
  });

  it('drops a connection that stops answering pings', async () => {
    const token = await pinging.auth.sign({ userId: randomUUID(), role: 'user' });
    const healthy = new Probe(pinging.url, { token });
    const dead = new Probe(pinging.url, { token, autoPong: false });
    await healthy.live();
    await dead.live();
    const started = Date.now();
    const { code } = await dead.closed;
    expect(code).toBe(1006); // terminated, no close frame
    expect(Date.now() - started).toBeLessThan(2000); // two heartbeat periods of 250 ms, with slack
    await new Promise((r) => setTimeout(r, 600));
    expect(healthy.closedWith).toBeUndefined();
    expect(syncOf(pinging).stats().connections).toBe(1);
    healthy.ws.terminate();
  });

  it('spreads its pings over the heartbeat period instead of pinging everyone at once', async () => {
    const spread = await startTestRuntime([syncService({ replicaId: 'spread', heartbeatMs: 1000 })], {
      database: rt.database,
    });
    try {
      const token = await spread.auth.sign({ userId: randomUUID(), role: 'user' });
      const probes = Array.from({ length: 10 }, () => new Probe(spread.url, { token }));
      // Listening from the start: a ping missed while the others connect would show up a period late.
      const pinged = probes.map(
        (p) => new Promise<number>((resolve) => p.ws.once('ping', () => resolve(Date.now()))),
      );
      await Promise.all(probes.map((p) => p.live()));
      const firstPings = await Promise.all(pinged);
      // Ten connections in ten 100 ms slots: their pings come across the second, not in one burst.
      expect(Math.max(...firstPings) - Math.min(...firstPings)).toBeGreaterThanOrEqual(500);
      for (const p of probes) p.ws.terminate();
    } finally {
      await spread.close();
    }
  });
});

describe('sockets follow their token', () => {
  const LIMIT = 2;
  const APP = 'https://app.example.com';
  let rt: TestRuntime;
  const probes: Probe[] = [];
  const open = (options: ConstructorParameters<typeof Probe>[1]) => {
    const p = new Probe(rt.url, options);
    probes.push(p);
    return p;
  };
  const tokenOf = () => rt.auth.sign({ userId: randomUUID(), role: 'user' });

  beforeAll(async () => {
    rt = await startTestRuntime([syncService({ replicaId: 'guarded' })], {
      env: {
        SYNC_MAX_CONNECTIONS_PER_USER: String(LIMIT),
        SYNC_ALLOWED_ORIGINS: `${APP},http://localhost:5173`,
      },
    });
  });
  afterEach(() => {
    for (const p of probes.splice(0)) p.ws.terminate();
  });
  afterAll(async () => rt?.close());

  it("closes a socket with 4498 at its token's exp, after what was sent before", async () => {
    const id = randomUUID();
    const token = await expiringToken(id, 2);
    const exp = decodeJwt(token).exp! * 1000;
    const p = open({ token });
    await p.live();
    const before = taskEvent(id);
    await publish(rt, before);
    await p.waitForEvents(1);

    const { code, reason } = await p.closed;
    const closedAt = Date.now();
    expect(code).toBe(CloseCodes.tokenExpired);
    expect(reason).toMatch(/token expired/);
    expect(closedAt).toBeGreaterThanOrEqual(exp);
    expect(closedAt - exp).toBeLessThan(1000);
    expect(p.events.map((m) => m.event.id)).toEqual([before.id]);
    await eventually(async () => syncOf(rt).stats().connections === 0);
  });

  it('refuses a token in the URL with 4400, however valid, before any data', async () => {
    const p = open({ token: await tokenOf(), viaQuery: true });
    const { code, reason } = await p.closed;
    expect(code).toBe(CloseCodes.badRequest);
    expect(reason).toMatch(/Sec-WebSocket-Protocol/);
    expect(p.messages).toEqual([]);
  });

  it('keeps at most SYNC_MAX_CONNECTIONS_PER_USER sockets of one user, refusing the rest with 4409', async () => {
    const id = randomUUID();
    const token = await rt.auth.sign({ userId: id, role: 'user' });
    // Five at once: the limit holds against a burst, not only one after another.
    const burst = Array.from({ length: 5 }, () => open({ token }));
    await eventually(async () =>
      burst.every((p) => p.closedWith || p.messages.some((m) => m.type === 'hello')),
    );
    const refused = burst.filter((p) => p.closedWith);
    expect(burst.length - refused.length).toBe(LIMIT);
    for (const p of refused) {
      expect(p.closedWith).toEqual({
        code: CloseCodes.tooManyConnections,
        reason: `at most ${LIMIT} connections per user`,
      });
      expect(p.messages).toEqual([]);
    }
    // Another user has places of their own; a place given back can be taken again.
    await open({ token: await tokenOf() }).live();
    const kept = burst.filter((p) => !p.closedWith);
    await kept[0]!.close();
    // One of the burst and the other user's.
    await eventually(async () => syncOf(rt).stats().connections === 2);
    const again = open({ token });
    await again.live();
    const event = taskEvent(id);
    await publish(rt, event);
    for (const p of [kept[1]!, again]) expect((await p.waitForEvents(1))[0]!.event.id).toBe(event.id);
  });

  it('refuses a browser from an origin not in SYNC_ALLOWED_ORIGINS with 4403, before any data', async () => {
    for (const origin of [
      'https://evil.example',
      'http://app.example.com',
      'https://app.example.com.evil.example',
      'null',
    ]) {
      const p = open({ token: await tokenOf(), origin });
      const { code, reason } = await p.closed;
      expect(code).toBe(CloseCodes.originNotAllowed);
      expect(reason).toMatch(/origin not allowed/);
      expect(p.messages).toEqual([]);
    }
    await open({ token: await tokenOf(), origin: APP }).live();
    await open({ token: await tokenOf(), origin: 'http://localhost:5173' }).live();
    // No Origin at all: not a browser, which could send any Origin it liked anyway.
    await open({ token: await tokenOf() }).live();
  });
});

describe('several sync replicas', () => {
  let a: TestRuntime;
  let b: TestRuntime;

  beforeAll(async () => {
    a = await startTestRuntime([syncService({ replicaId: 'a' })]);
    b = await startTestRuntime([syncService({ replicaId: 'b' })], { database: a.database });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('delivers every event on every replica under one sequence, storing it once', async () => {
    const id = randomUUID();
    const token = await a.auth.sign({ userId: id, role: 'user' });
    const onA = new Probe(a.url, { token });
    const onB = new Probe(b.url, { token });
    await onA.live();
    await onB.live();
    expect(syncOf(a).consumer).not.toBe(syncOf(b).consumer);

    const events = Array.from({ length: 30 }, () => taskEvent(id));
    for (let i = 0; i < events.length; i += 3)
      await a.ports.bus.publish(onTaskUpdates(...events.slice(i, i + 3)));
    for (const p of [onA, onB]) {
      await p.waitForEvents(30);
      expect(p.events.map((m) => [m.sequence, m.event.id])).toEqual(events.map((e, i) => [i + 1, e.id]));
    }
    const { rows } = await a.pool.query(
      'SELECT count(*)::int AS n, max(sequence)::int AS top FROM sync_history WHERE user_id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ n: 30, top: 30 });

    // A client moving from one replica to the other resumes without gap or duplicate.
    onA.ws.terminate();
    const moved = new Probe(b.url, { token, since: 30 });
    await moved.live();
    const more = taskEvent(id);
    await b.ports.bus.publish(onTaskUpdates(more));
    const [message] = await moved.waitForEvents(1);
    expect(message).toMatchObject({ sequence: 31, event: { id: more.id } });
    onB.ws.terminate();
    moved.ws.terminate();
  });

  it("stores each user's events in arrival order while several statements run at once", async () => {
    const store = createEventStore(() => a.pool, 100, { maxBatch: 4, parallel: 4 });
    const users = Array.from({ length: 3 }, () => randomUUID());
    // Each user's events arrive back to back, so most of them queue behind their own user's
    // statement while statements of other users run.
    const events = users.flatMap((u) =>
      Array.from({ length: 6 }, () => taskEvent(u) as unknown as SyncedEvent),
    );
    const stored = await Promise.all(events.map((e) => store(e)));
    for (const user of users) {
      const mine = events.flatMap((e, i) => (e.data.user_id === user ? [stored[i]] : []));
      expect(mine).toEqual([1, 2, 3, 4, 5, 6].map((sequence) => ({ sequence, created: true })));
      const { rows } = await a.pool.query(
        'SELECT sequence, event_id FROM sync_history WHERE user_id = $1 ORDER BY sequence',
        [user],
      );
      expect(rows.map((r) => r.event_id)).toEqual(
        events.filter((e) => e.data.user_id === user).map((e) => e.id),
      );
    }
  });

  it('gives each event one sequence when replicas store overlapping batches at once', async () => {
    const users = Array.from({ length: 12 }, () => randomUUID());
    const rounds = Array.from({ length: 8 }, () => users.map((u) => taskEvent(u) as unknown as SyncedEvent));
    const results: Map<string, { sequence: number }>[] = [];
    for (const round of rounds) {
      // Both replicas store the same events, in opposite orders, at the same time.
      const [fromA, fromB] = await Promise.all([
        storeEvents(a.pool, round, 100),
        storeEvents(b.pool, [...round].reverse(), 100),
      ]);
      expect([...fromB.entries()].sort()).toEqual(
        [...fromA.entries()].map(([id, s]) => [id, { ...s, created: fromB.get(id)!.created }]).sort(),
      );
      expect([...fromA.values(), ...fromB.values()].filter((s) => s.created)).toHaveLength(round.length);
      results.push(fromA);
    }
    for (const [u, user] of users.entries()) {
      expect(results.map((r, i) => r.get(rounds[i]![u]!.id)!.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const { rows } = await a.pool.query(
        'SELECT sequence FROM sync_history WHERE user_id = $1 ORDER BY sequence',
        [user],
      );
      expect(rows.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });
});
