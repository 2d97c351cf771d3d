import { type Api, ApiError } from './api.js';
import { LiveConnection, type LiveState } from './live.js';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  closed: number | undefined;
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols?: string[],
  ) {
    FakeSocket.all.push(this);
  }
  close(code = 1000, reason = '') {
    this.closed = code;
    this.onclose?.({ code, reason });
  }
  send(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

class FakeWindow {
  navigator = { onLine: true };
  private listeners = new Map<string, Set<() => void>>();
  addEventListener(type: string, fn: () => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: () => void) {
    this.listeners.get(type)?.delete(fn);
  }
  fire(type: 'online' | 'offline') {
    this.navigator.onLine = type === 'online';
    for (const fn of this.listeners.get(type) ?? []) fn();
  }
}

const apiAnswering = (answer: () => unknown): Api => ({
  request: async () => answer() as never,
  blob: async () => new Blob(),
});

const flush = () => new Promise((r) => setTimeout(r, 0));

function connection(api: Api, win = new FakeWindow()) {
  const states: LiveState[] = [];
  const events: number[] = [];
  const ended: string[] = [];
  const live = new LiveConnection({
    api,
    baseUrl: 'http://app.test',
    token: () => 'jwt',
    onEvent: (_e, sequence) => events.push(sequence),
    onResync: () => events.push(-1),
    onState: (state) => states.push(state),
    onSessionEnded: () => ended.push('ended'),
    WebSocket: FakeSocket as never,
    window: win as never,
  });
  return { live, states, events, win, ended };
}

const event = (sequence: number) => ({
  type: 'event',
  sequence,
  event: { id: `e${sequence}`, type: 'com.taskstream.task.created', time: '', data: {} },
});

describe('the live connection', () => {
  beforeEach(() => {
    FakeSocket.all = [];
  });

  it('starts from the user’s current position, so nothing between it and the list load is lost', async () => {
    const { live, states, events } = connection(
      apiAnswering(() => ({ events: [], resync: false, latest: 7 })),
    );
    await live.start();
    await flush();
    const socket = FakeSocket.all[0]!;
    // The token goes as the bearer subprotocol, never into the URL (logs, history).
    expect(socket.url).toBe('ws://app.test/ws/tasks?since=7');
    expect(socket.protocols).toEqual(['bearer', 'jwt']);
    socket.send(event(8));
    socket.send({ type: 'hello', sequence: 8 });
    socket.send(event(8)); // a duplicate
    socket.send(event(9));
    expect(events).toEqual([8, 9]);
    expect(states).toEqual(['connecting', 'connected']);
    live.stop();
  });

  it('follows another stream by its paths, live only when it keeps no REST history', async () => {
    const asked: string[] = [];
    const live = new LiveConnection({
      api: {
        request: async (_m: string, path: string) => {
          asked.push(path);
          return {} as never;
        },
        blob: async () => new Blob(),
      },
      baseUrl: 'http://app.test',
      stream: { ws: '/ws/transactions', sse: '/api/transactions/stream', history: null },
      token: () => 'jwt',
      onEvent: () => undefined,
      onResync: () => undefined,
      onState: () => undefined,
      WebSocket: FakeSocket as never,
      window: new FakeWindow() as never,
    });
    await live.start();
    await flush();
    expect(asked).toEqual([]);
    expect(FakeSocket.all[0]!.url).toBe('ws://app.test/ws/transactions');
    live.stop();
  });

  it('ends the session when the token expired and there is no newer one', async () => {
    const { live, states, ended } = connection(
      apiAnswering(() => ({ events: [], resync: false, latest: 2 })),
    );
    await live.start();
    await flush();
    FakeSocket.all[0]!.send({ type: 'hello', sequence: 2 });
    expect(ended).toEqual([]);
    FakeSocket.all[0]!.close(4498, 'token expired');
    await flush();
    // Asked again, the session still has the same token: no new connection, the session ends.
    expect(FakeSocket.all).toHaveLength(1);
    expect(ended).toEqual(['ended']);
    expect(states.at(-1)).toBe('offline');
    live.stop();
  });

  it('pauses while offline and resumes after the last event seen', async () => {
    const { live, states, events, win } = connection(
      apiAnswering(() => ({ events: [], resync: false, latest: 0 })),
    );
    await live.start();
    await flush();
    FakeSocket.all[0]!.send({ type: 'hello', sequence: 0 });
    FakeSocket.all[0]!.send(event(1));
    win.fire('offline');
    expect(FakeSocket.all[0]!.closed).toBe(1000);
    expect(states.at(-1)).toBe('offline');
    win.fire('online');
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[1]!.url).toContain('since=1');
    expect(states.at(-1)).toBe('reconnecting');
    FakeSocket.all[1]!.send(event(2));
    FakeSocket.all[1]!.send({ type: 'hello', sequence: 2 });
    expect(states.at(-1)).toBe('connected');
    expect(events).toEqual([1, 2]);
    live.stop();
  });

  it('reconnects on its own when the server drops the connection', async () => {
    const { live, states } = connection(apiAnswering(() => ({ events: [], resync: false, latest: 3 })));
    await live.start();
    await flush();
    FakeSocket.all[0]!.send({ type: 'hello', sequence: 3 });
    FakeSocket.all[0]!.onclose?.({ code: 1006, reason: '' });
    expect(states.at(-1)).toBe('reconnecting');
    live.stop();
  });

  it('says live updates are not available when the sync service is not there', async () => {
    const { live, states } = connection(
      apiAnswering(() => {
        throw new ApiError(404, 'not_found', 'no route');
      }),
    );
    await live.start();
    await flush();
    await flush();
    expect(states).toEqual(['connecting', 'unavailable']);
    expect(FakeSocket.all).toHaveLength(0);
    live.stop();
  });

  it('tells the page to reload when the server has no history that far back', async () => {
    const { live, events } = connection(apiAnswering(() => ({ events: [], resync: false, latest: 2 })));
    await live.start();
    await flush();
    FakeSocket.all[0]!.send({ type: 'resync', sequence: 40 });
    FakeSocket.all[0]!.send(event(41));
    expect(events).toEqual([-1, 41]);
    live.stop();
  });
});
