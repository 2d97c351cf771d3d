import { jest } from '@jest/globals';
import { SyncClient, type SyncClientState, type WebSocketLike } from './client.js';
import { CloseCodes, type ServerMessage, type SyncedEvent } from './protocol.js';

/** A stand-in socket: records how it was opened, lets the test speak for the server. */
class FakeSocket implements WebSocketLike {
  static opened: FakeSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedByClient: { code?: number; reason?: string } | undefined;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.opened.push(this);
  }
  send(message: ServerMessage) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  close(code?: number, reason?: string) {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }
}

const event = (id: string) => ({ id }) as SyncedEvent;
const flush = () => new Promise((r) => setImmediate(r));

describe('SyncClient', () => {
  beforeEach(() => {
    FakeSocket.opened = [];
  });

  it('connects with since, the filters and the token as a subprotocol', async () => {
    new SyncClient({
      url: 'https://example.test/',
      token: 'jwt',
      since: 7,
      filter: { tags: ['a', 'b'], statuses: ['pending'] },
      WebSocket: FakeSocket,
      onEvent: () => undefined,
    }).start();
    await flush();
    const [socket] = FakeSocket.opened;
    expect(socket!.url).toBe('wss://example.test/ws/tasks?since=7&status=pending&tag=a%2Cb');
    expect(socket!.protocols).toEqual(['bearer', 'jwt']);
  });

  it('renews its token at once when the server closes with 4498, and stops when none comes', async () => {
    const tokens = ['first', 'second', 'second'];
    const states: [SyncClientState, number | undefined][] = [];
    const client = new SyncClient({
      url: 'http://h:1',
      token: async () => tokens.shift()!,
      since: 3,
      WebSocket: FakeSocket,
      onEvent: () => undefined,
      onStateChange: (state, detail) => states.push([state, detail?.code]),
    }).start();
    await flush();
    const first = FakeSocket.opened[0]!;
    expect(first.protocols).toEqual(['bearer', 'first']);
    first.send({ type: 'event', sequence: 4, event: event('a') });
    first.send({ type: 'hello', sequence: 4 });
    first.serverClose(CloseCodes.tokenExpired, 'token expired');
    await flush(); // no timer: the renewal is asked for and the client reconnects right away
    expect(FakeSocket.opened).toHaveLength(2);
    const second = FakeSocket.opened[1]!;
    expect(second.url).toBe('ws://h:1/ws/tasks?since=4');
    expect(second.protocols).toEqual(['bearer', 'second']);
    second.send({ type: 'hello', sequence: 4 });
    expect(client.state).toBe('open');

    // The next expiry, and the token function has nothing newer: signing in again is the user's to do.
    second.serverClose(CloseCodes.tokenExpired, 'token expired');
    await flush();
    expect(FakeSocket.opened).toHaveLength(2);
    expect(client.state).toBe('stopped');
    expect(states.at(-1)).toEqual(['stopped', CloseCodes.tokenExpired]);
  });

  it('passes each sequence once, takes resync and hello positions, and resumes from the last', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    try {
      const seen: [number, string][] = [];
      const resyncs: number[] = [];
      const client = new SyncClient({
        url: 'http://h',
        token: 't',
        since: 0,
        WebSocket: FakeSocket,
        onEvent: (e, sequence) => seen.push([sequence, e.id]),
        onResync: (sequence) => resyncs.push(sequence),
        backoff: { initialMs: 100, maxMs: 1000 },
      }).start();
      await flush();
      const first = FakeSocket.opened[0]!;
      first.send({ type: 'event', sequence: 1, event: event('a') });
      first.send({ type: 'event', sequence: 2, event: event('b') });
      first.send({ type: 'event', sequence: 2, event: event('b') });
      first.send({ type: 'event', sequence: 1, event: event('a') });
      first.send({ type: 'hello', sequence: 2 });
      expect(client.state).toBe('open');
      first.send({ type: 'resync', sequence: 40 });
      first.send({ type: 'event', sequence: 40, event: event('old') });
      first.send({ type: 'event', sequence: 41, event: event('c') });
      expect(seen).toEqual([
        [1, 'a'],
        [2, 'b'],
        [41, 'c'],
      ]);
      expect(resyncs).toEqual([40]);

      first.serverClose(1006);
      expect(client.state).toBe('reconnecting');
      expect(FakeSocket.opened).toHaveLength(1);
      jest.advanceTimersByTime(150);
      await flush();
      expect(FakeSocket.opened).toHaveLength(2);
      expect(FakeSocket.opened[1]!.url).toContain('since=41');
      // A filtered connection's hello moves the position past skipped sequences.
      FakeSocket.opened[1]!.send({ type: 'hello', sequence: 45 });
      expect(client.lastSequence).toBe(45);
      client.stop();
      expect(FakeSocket.opened[1]!.closedByClient?.code).toBe(1000);
    } finally {
      jest.useRealTimers();
    }
  });

  it('backs off exponentially up to the cap and resets after a successful connect', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const delays: number[] = [];
    try {
      new SyncClient({
        url: 'http://h',
        token: 't',
        WebSocket: FakeSocket,
        onEvent: () => undefined,
        onStateChange: (_state: SyncClientState, detail) => {
          if (detail?.retryInMs !== undefined) delays.push(detail.retryInMs);
        },
        backoff: { initialMs: 100, maxMs: 800 },
      }).start();
      for (let i = 0; i < 6; i++) {
        await flush();
        FakeSocket.opened.at(-1)!.serverClose(1006);
        jest.advanceTimersByTime(2000);
      }
      await flush();
      FakeSocket.opened.at(-1)!.send({ type: 'hello', sequence: 0 });
      FakeSocket.opened.at(-1)!.serverClose(1001);
    } finally {
      jest.useRealTimers();
    }
    const bases = [100, 200, 400, 800, 800, 800, 100];
    expect(delays).toHaveLength(bases.length);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(bases[i]! * 0.8);
      expect(d).toBeLessThanOrEqual(bases[i]! * 1.2);
    });
  });

  it('stops for good on 4401 and 4400', async () => {
    for (const code of [4401, 4400]) {
      FakeSocket.opened = [];
      const states: SyncClientState[] = [];
      const client = new SyncClient({
        url: 'http://h',
        token: 't',
        WebSocket: FakeSocket,
        onEvent: () => undefined,
        onStateChange: (s) => states.push(s),
      }).start();
      await flush();
      FakeSocket.opened[0]!.serverClose(code, 'token expired');
      await new Promise((r) => setTimeout(r, 20));
      expect(client.state).toBe('stopped');
      expect(states.at(-1)).toBe('stopped');
      expect(FakeSocket.opened).toHaveLength(1);
    }
  });

  it('keeps its token and reconnects after 1013 (the issuer could not be reached)', async () => {
    FakeSocket.opened = [];
    const client = new SyncClient({
      url: 'http://h',
      token: 't',
      WebSocket: FakeSocket,
      onEvent: () => undefined,
    }).start();
    await flush();
    FakeSocket.opened[0]!.serverClose(1013, "the token issuer's key set could not be fetched");
    expect(client.state).toBe('reconnecting');
    client.stop();
  });
});

test('another stream on the same protocol is reached by its paths (the payments tracker)', () => {
  const client = new SyncClient({
    url: 'http://h:1',
    token: 't',
    since: 3,
    paths: { ws: '/ws/transactions', sse: '/api/transactions/stream' },
    onEvent: () => undefined,
  });
  expect(client.urlFor('websocket')).toBe('ws://h:1/ws/transactions?since=3');
  expect(client.urlFor('sse', 'x')).toBe('http://h:1/api/transactions/stream?since=3&ticket=x');
  const tasks = new SyncClient({ url: 'http://h:1', token: 't', onEvent: () => undefined });
  expect(tasks.urlFor('websocket')).toBe('ws://h:1/ws/tasks');
});
