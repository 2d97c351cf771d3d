import { SyncClient, type WebSocketLike } from './client.js';
import { CloseCodes, type ServerMessage, type SyncedEvent } from './protocol.js';

/** A socket whose handshake a proxy breaks: it closes with 1006 before any frame. */
class BrokenSocket implements WebSocketLike {
  static opened = 0;
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor() {
    BrokenSocket.opened++;
    setImmediate(() => this.onclose?.({ code: 1006, reason: '' }));
  }
  close() {}
}

/** A stand-in EventSource: the test speaks for the server with named events. */
class FakeSource {
  static opened: FakeSource[] = [];
  onerror: ((event: unknown) => void) | null = null;
  closed = false;
  private listeners = new Map<string, ((event: { data: unknown }) => void)[]>();
  constructor(readonly url: string) {
    FakeSource.opened.push(this);
  }
  addEventListener(type: string, listener: (event: { data: unknown }) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(type: string, data: unknown) {
    for (const l of this.listeners.get(type) ?? []) l({ data: JSON.stringify(data) });
  }
  send(message: ServerMessage) {
    this.emit(message.type, message);
  }
  close() {
    this.closed = true;
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
/** Waits for what a 1 ms backoff timer does; a loaded machine may take far longer than a few ticks. */
const until = async (done: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 2));
};
const started: SyncClient[] = [];

describe('SyncClient falling back to Server-Sent Events', () => {
  beforeEach(() => {
    BrokenSocket.opened = 0;
    FakeSource.opened = [];
  });
  // A test that fails half-way leaves no client reconnecting into the next one.
  afterEach(() => {
    for (const client of started.splice(0)) client.stop();
  });

  it('after two failed handshakes trades the token for a ticket and follows the stream with the same rules', async () => {
    const tickets: { url: string; authorization: string }[] = [];
    const fakeFetch = (async (url: string, init: { headers: Record<string, string> }) => {
      tickets.push({ url, authorization: init.headers.authorization! });
      return new Response(JSON.stringify({ ticket: `t${tickets.length}`, expires_in: 30 }), { status: 201 });
    }) as unknown as typeof fetch;
    const seen: number[] = [];
    const tokens = ['jwt-1', 'jwt-1', 'jwt-1', 'jwt-2'];
    const client = new SyncClient({
      url: 'https://example.test',
      token: async () => tokens.shift() ?? 'jwt-2',
      since: 2,
      filter: { tags: ['home'] },
      WebSocket: BrokenSocket,
      sse: { EventSource: FakeSource, fetch: fakeFetch },
      backoff: { initialMs: 1, maxMs: 1 },
      onEvent: (_event, sequence) => seen.push(sequence),
    }).start();
    started.push(client);
    await until(() => !(FakeSource.opened.length === 0));

    expect(BrokenSocket.opened).toBe(2);
    expect(client.transport).toBe('sse');
    expect(tickets).toEqual([
      { url: 'https://example.test/api/sync/stream/ticket', authorization: 'Bearer jwt-1' },
    ]);
    const source = FakeSource.opened[0]!;
    // The ticket in the URL, never the token.
    expect(source.url).toBe('https://example.test/api/sync/stream?since=2&tag=home&ticket=t1');
    source.send({ type: 'event', sequence: 3, event: { id: 'a' } as SyncedEvent });
    source.send({ type: 'event', sequence: 3, event: { id: 'a' } as SyncedEvent }); // duplicate: dropped
    source.send({ type: 'hello', sequence: 4 });
    expect(client.state).toBe('open');
    expect(seen).toEqual([3]);

    // The server ends the stream at the token's exp: a new token, a new ticket, resume after 4.
    source.emit('close', { code: CloseCodes.tokenExpired, reason: 'token expired' });
    await flush();
    expect(source.closed).toBe(true);
    expect(tickets.at(-1)!.authorization).toBe('Bearer jwt-2');
    expect(FakeSource.opened[1]!.url).toBe('https://example.test/api/sync/stream?since=4&tag=home&ticket=t2');
    client.stop();
    expect(FakeSource.opened[1]!.closed).toBe(true);
  });

  it('stops when the ticket is refused (the token is no good), and reconnects itself after an interruption', async () => {
    let status = 201;
    const fakeFetch = (async () =>
      new Response(JSON.stringify({ ticket: 'x', expires_in: 30 }), { status })) as unknown as typeof fetch;
    const client = new SyncClient({
      url: 'http://h:1',
      token: 'jwt',
      WebSocket: BrokenSocket,
      sse: { EventSource: FakeSource, fetch: fakeFetch, only: true },
      backoff: { initialMs: 1, maxMs: 1 },
      onEvent: () => undefined,
    }).start();
    started.push(client);
    await until(() => !(FakeSource.opened.length === 0));
    expect(BrokenSocket.opened).toBe(0); // SSE only
    const first = FakeSource.opened[0]!;
    first.send({ type: 'hello', sequence: 9 });
    // A network error: the EventSource would retry with a used ticket; the client closes it and reconnects.
    first.onerror?.({});
    expect(first.closed).toBe(true);
    await until(() => !(FakeSource.opened.length < 2));
    expect(FakeSource.opened[1]!.url).toBe('http://h:1/api/sync/stream?since=9&ticket=x');

    status = 401;
    FakeSource.opened[1]!.onerror?.({});
    await until(() => !(client.state !== 'stopped'));
    expect(client.state).toBe('stopped');
    expect(FakeSource.opened).toHaveLength(2);
  });
});
