import { randomUUID } from 'node:crypto';
import {
  createTestDatabase,
  eventually,
  startTestRuntime,
  type TestDatabase,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { SyncClient, type SyncClientState, type WebSocketConstructor } from './client.js';
import { syncService } from './index.js';
import { CloseCodes } from './protocol.js';
import { onTaskUpdates, taskEvent } from './test-support/events.js';
import { expiringToken } from './test-support/tokens.js';

/**
 * The SyncClient the web UI uses, against the real server: its reconnect, backoff and dedupe
 * are unit-tested on a fake socket; here the server really goes away and comes back.
 */
describe('SyncClient against a restarting sync server', () => {
  let database: TestDatabase;
  const runtimes: TestRuntime[] = [];
  let client: SyncClient | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    client?.stop();
    for (const rt of runtimes.splice(0)) await rt.close();
    await database?.drop();
  });

  // The same replica id each time: the restarted server reads on from its consumer checkpoint.
  const startServer = async (port = 0) => {
    const rt = await startTestRuntime([syncService({ replicaId: 'restarting' })], {
      database,
      env: { PORT: String(port) },
    });
    runtimes.push(rt);
    return rt;
  };

  it('reconnects by itself from its last sequence and gets every event once, in order', async () => {
    let server = await startServer();
    const { url } = server;
    const port = Number(new URL(url).port);
    const userId = randomUUID();
    const token = await server.auth.sign({ userId, role: 'user' });

    // The real `ws` socket, only noting the URL of each connection the client opens.
    const opened: string[] = [];
    class NotedWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        opened.push(address);
        super(address, protocols);
      }
    }
    const seen: { sequence: number; id: string }[] = [];
    const states: { state: SyncClientState; code?: number }[] = [];
    client = new SyncClient({
      url,
      token,
      since: 0,
      WebSocket: NotedWebSocket as unknown as WebSocketConstructor,
      backoff: { initialMs: 50, maxMs: 400 },
      onEvent: (event, sequence) => seen.push({ sequence, id: event.id }),
      onStateChange: (state, detail) => states.push({ state, code: detail?.code }),
    }).start();
    await eventually(async () => client!.state === 'open');

    const before = Array.from({ length: 5 }, (_, i) => taskEvent(userId, { version: i + 1 }));
    await server.ports.bus.publish(onTaskUpdates(...before));
    await eventually(async () => seen.length === 5);

    // The server goes away (its shutdown closes the socket with 1001), and while it is away
    // ten changes are published by another process on the same database.
    runtimes.splice(runtimes.indexOf(server), 1);
    await server.close();
    const publisher = await startTestRuntime([], { database });
    runtimes.push(publisher);
    const meanwhile = Array.from({ length: 10 }, (_, i) => taskEvent(userId, { version: i + 6 }));
    for (const event of meanwhile) await publisher.ports.bus.publish(onTaskUpdates(event));
    // At least one attempt to come back has failed before the server returns.
    await eventually(async () => opened.length >= 3);
    expect(states).toContainEqual({ state: 'reconnecting', code: CloseCodes.goingAway });
    expect(client.state).toBe('reconnecting');
    expect(seen).toHaveLength(5);

    server = await startServer(port);
    await eventually(async () => client!.state === 'open', 15000);
    const after = Array.from({ length: 5 }, (_, i) => taskEvent(userId, { version: i + 16 }));
    for (const event of after) await server.ports.bus.publish(onTaskUpdates(event));
    await eventually(async () => seen.length >= 20, 15000);
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up

    expect(seen).toEqual([...before, ...meanwhile, ...after].map((e, i) => ({ sequence: i + 1, id: e.id })));
    expect(client.lastSequence).toBe(20);
    // Every reconnect asked for what came after the last event it had, not for everything again.
    expect(opened[0]).toContain('since=0');
    expect(opened.slice(1).every((u) => u.includes('since=5'))).toBe(true);
  });
});

describe('SyncClient across the end of its token', () => {
  let rt: TestRuntime;
  const clients: SyncClient[] = [];

  beforeAll(async () => {
    rt = await startTestRuntime([syncService({ replicaId: 'renewing' })]);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.stop();
  });
  afterAll(async () => rt?.close());

  /** The real `ws` socket, noting how each connection was opened. */
  const opened: { url: string; protocols?: string | string[] }[] = [];
  class NotedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      opened.push({ url: address, protocols });
      super(address, protocols);
    }
  }

  it('renews its token when the server closes with 4498 and resumes without gap or duplicate', async () => {
    opened.length = 0;
    const userId = randomUUID();
    // The first token runs out in about two seconds; a renewal gets a token of the usual lifetime.
    const tokens: string[] = [];
    const token = async () => {
      const next =
        tokens.length === 0 ? await expiringToken(userId, 2) : await rt.auth.sign({ userId, role: 'user' });
      tokens.push(next);
      return next;
    };
    const seen: { sequence: number; id: string }[] = [];
    const states: { state: SyncClientState; code?: number }[] = [];
    const client = new SyncClient({
      url: rt.url,
      token,
      since: 0,
      WebSocket: NotedWebSocket as unknown as WebSocketConstructor,
      onEvent: (event, sequence) => seen.push({ sequence, id: event.id }),
      onStateChange: (state, detail) => states.push({ state, code: detail?.code }),
    }).start();
    clients.push(client);
    await eventually(async () => client.state === 'open');

    // Changes keep coming, one every 20 ms, until a second after the first token ran out.
    const published: string[] = [];
    const until = decodeJwt(tokens[0]!).exp! * 1000 + 1000;
    while (Date.now() < until) {
      const event = taskEvent(userId);
      published.push(event.id);
      await rt.ports.bus.publish(onTaskUpdates(event));
      await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(async () => seen.length >= published.length, 15000);
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up

    expect(seen).toEqual(published.map((id, i) => ({ sequence: i + 1, id })));
    expect(states).toContainEqual({ state: 'reconnecting', code: CloseCodes.tokenExpired });
    expect(client.state).toBe('open');
    // One renewal, one new connection, from where the first one stopped; never a token in a URL.
    expect(tokens).toHaveLength(2);
    expect(opened.map((o) => o.protocols)).toEqual(tokens.map((t) => ['bearer', t]));
    const resumedFrom = Number(new URL(opened[1]!.url).searchParams.get('since'));
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThan(published.length);
    for (const { url } of opened) expect(new URL(url).searchParams.has('token')).toBe(false);
  });

  it('stops with 4498 when asked for a new token it gets the expired one again', async () => {
    const userId = randomUUID();
    const token = await expiringToken(userId, 1);
    const states: { state: SyncClientState; code?: number }[] = [];
    const client = new SyncClient({
      url: rt.url,
      token: () => token,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: () => undefined,
      onStateChange: (state, detail) => states.push({ state, code: detail?.code }),
    }).start();
    clients.push(client);
    await eventually(async () => client.state === 'stopped', 5000);
    expect(states.at(-1)).toEqual({ state: 'stopped', code: CloseCodes.tokenExpired });
  });
});
