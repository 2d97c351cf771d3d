/**
 * A small typed client for `WS /ws/tasks`, for the browser and for Node: resumes from the last
 * sequence it saw, drops duplicates, tells the caller to reload on `resync`, reconnects with
 * exponential backoff, and when its token expires (4498) asks for a new one and resumes at
 * once. The socket constructor is injected: the global `WebSocket` in a browser (the default),
 * `ws`'s in Node (`new SyncClient({ WebSocket: WS as WebSocketConstructor, ... })`).
 *
 * With `sse` set, a client whose WebSocket fails to open (a proxy that breaks upgrades) falls
 * back to `GET /api/sync/stream` (Server-Sent Events) with the same frames and the same rules:
 * an EventSource cannot send a token, so each connect first trades it for a single-use ticket.
 */
import {
  BEARER_PROTOCOL,
  CloseCodes,
  FATAL_CLOSE_CODES,
  type ServerMessage,
  type StreamClose,
  type SyncedEvent,
} from './protocol.js';

export type { ServerMessage, SyncedEvent } from './protocol.js';
export { CloseCodes } from './protocol.js';

/** What the client uses of a WebSocket: the part the browser's and `ws`'s have in common. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What the client uses of an EventSource (the browser's). */
export interface EventSourceLike {
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (url: string) => EventSourceLike;

export type SyncTransport = 'websocket' | 'sse';

/** WebSocket attempts in a row that end before the server said hello; then the client uses SSE. */
const WS_FAILURES_BEFORE_SSE = 2;

/** Where the task stream is served: the client's default. */
export const TASK_STREAM_PATHS = { ws: '/ws/tasks', sse: '/api/sync/stream' } as const;

export type SyncClientState = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface SyncClientOptions {
  /** The server: `http(s)://host[:port]` or `ws(s)://host[:port]`; `/ws/tasks` is added. */
  url: string;
  /**
   * Another stream on the same protocol (ADR 0019), e.g. the payments tracker's
   * `{ ws: '/ws/transactions', sse: '/api/transactions/stream' }`; default the task stream's.
   */
  paths?: { ws: string; sse: string };
  /**
   * A JWT, or a function that returns a current one, asked before every connect. After the server
   * closed with 4498 (the token expired) it is asked at once for a renewed one; the same token
   * again stops the client (state `stopped` with code 4498: the user must sign in again).
   */
  token: string | (() => string | Promise<string>);
  /** Resume after this sequence (e.g. stored from a previous session); omit for live only. */
  since?: number;
  /** Only events of these tasks / with these statuses / with one of these tags. */
  filter?: { taskIds?: string[]; statuses?: ('pending' | 'completed')[]; tags?: string[] };
  WebSocket?: WebSocketConstructor;
  /** Each event once, in sequence order. */
  onEvent: (event: SyncedEvent, sequence: number) => void;
  /** The server no longer has what was missed: reload over REST; events continue after `sequence`. */
  onResync?: (sequence: number) => void;
  /** Replay done, live from here. */
  onLive?: (sequence: number) => void;
  onStateChange?: (
    state: SyncClientState,
    detail?: { code?: number; reason?: string; retryInMs?: number },
  ) => void;
  /** Reconnect delays: initialMs · 2^n, capped, with ±20 % jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Fall back to Server-Sent Events when the WebSocket cannot be opened (or use them only, with
   * `only: true`). `EventSource` defaults to the global one; `fetch` (for the ticket) too.
   */
  sse?: { EventSource?: EventSourceConstructor; fetch?: typeof fetch; only?: boolean };
}

export class SyncClient {
  /** The current WebSocket or EventSource (identity only: events of an older one are ignored). */
  private socket: object | undefined;
  private closeSocket: (() => void) | undefined;
  private wsFailures = 0;
  private currentTransport: SyncTransport;
  private sequence: number | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private currentState: SyncClientState = 'stopped';
  /** The token the server just closed as expired; a renewal must differ from it. */
  private expiredToken: string | undefined;

  constructor(private readonly options: SyncClientOptions) {
    this.sequence = options.since;
    this.currentTransport = options.sse?.only ? 'sse' : 'websocket';
  }

  /** The transport of the current (or next) connection. */
  get transport(): SyncTransport {
    return this.currentTransport;
  }

  /** The last sequence received (or skipped by a resync); resume from here. */
  get lastSequence(): number | undefined {
    return this.sequence;
  }

  get state(): SyncClientState {
    return this.currentState;
  }

  start(): this {
    this.stopped = false;
    void this.connect();
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const close = this.closeSocket;
    this.socket = undefined;
    this.closeSocket = undefined;
    close?.();
    this.setState('stopped');
  }

  /** The URL of the next connection (exposed for tests and diagnostics); the token never goes in it. */
  urlFor(transport: SyncTransport = 'websocket', ticket?: string): string {
    const base = this.options.url.replace(/\/+$/, '');
    const params = new URLSearchParams();
    if (this.sequence !== undefined) params.set('since', String(this.sequence));
    const { taskIds, statuses, tags } = this.options.filter ?? {};
    if (taskIds?.length) params.set('task_id', taskIds.join(','));
    if (statuses?.length) params.set('status', statuses.join(','));
    if (tags?.length) params.set('tag', tags.join(','));
    if (ticket) params.set('ticket', ticket);
    const query = params.toString();
    const paths = this.options.paths ?? TASK_STREAM_PATHS;
    return transport === 'sse'
      ? `${base.replace(/^ws/, 'http')}${paths.sse}${query ? `?${query}` : ''}`
      : `${base.replace(/^http/, 'ws')}${paths.ws}${query ? `?${query}` : ''}`;
  }

  private setState(state: SyncClientState, detail?: { code?: number; reason?: string; retryInMs?: number }) {
    this.currentState = state;
    this.options.onStateChange?.(state, detail);
  }

  private async connect() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token: string;
    try {
      token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    } catch {
      return this.scheduleReconnect(undefined, 'token unavailable');
    }
    if (this.stopped) return;
    if (this.expiredToken !== undefined && token === this.expiredToken) {
      this.stopped = true;
      this.setState('stopped', { code: CloseCodes.tokenExpired, reason: 'token expired and not renewed' });
      return;
    }
    if (this.currentTransport === 'sse') return this.openSse(token);
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor)
      throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. the `ws` package in Node)');
    // The token travels as a subprotocol, never in the URL (the server refuses that).
    const socket = new Ctor(this.urlFor('websocket'), [BEARER_PROTOCOL, token]);
    this.socket = socket;
    this.closeSocket = () => socket.close(CloseCodes.normal, 'client stopped');
    let greeted = false;
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      if (this.handle(message.data) === 'hello') greeted = true;
    };
    socket.onerror = () => undefined; // a close event follows
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      // Never got through (1006: no handshake, or cut before hello): perhaps a proxy that breaks
      // WebSockets. After a few such attempts in a row, try Server-Sent Events instead.
      if (
        !greeted &&
        event.code === 1006 &&
        this.eventSource() &&
        ++this.wsFailures >= WS_FAILURES_BEFORE_SSE
      ) {
        this.currentTransport = 'sse';
        return this.ended(CloseCodes.goingAway, 'WebSocket unavailable; using Server-Sent Events', token, 0);
      }
      if (greeted) this.wsFailures = 0;
      this.ended(event.code, event.reason, token);
    };
  }

  /** The EventSource to fall back to, when SSE is asked for and one exists here. */
  private eventSource(): EventSourceConstructor | undefined {
    if (!this.options.sse) return undefined;
    return (
      this.options.sse.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource
    );
  }

  /** A ticket for the next stream (an EventSource cannot send the token), then the EventSource. */
  private async openSse(token: string) {
    const doFetch = this.options.sse?.fetch ?? globalThis.fetch;
    const Ctor = this.eventSource();
    if (!Ctor || !doFetch) throw new Error('no EventSource implementation: pass options.sse.EventSource');
    let ticket: string;
    try {
      const response = await doFetch(`${this.urlFor('sse').split('?')[0]}/ticket`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      if (response.status === 401) return this.ended(CloseCodes.unauthorized, 'token refused', token);
      if (!response.ok) return this.ended(CloseCodes.tryAgainLater, `ticket: HTTP ${response.status}`, token);
      ticket = ((await response.json()) as { ticket: string }).ticket;
    } catch {
      return this.ended(CloseCodes.tryAgainLater, 'ticket unavailable', token);
    }
    if (this.stopped) return;
    const source = new Ctor(this.urlFor('sse', ticket));
    this.socket = source;
    this.closeSocket = () => source.close();
    const onFrame = (event: { data: unknown }) => {
      if (this.socket === source) this.handle(event.data);
    };
    for (const type of ['event', 'resync', 'hello']) source.addEventListener(type, onFrame);
    const finish = (code: number, reason: string) => {
      if (this.socket !== source) return;
      this.socket = undefined;
      // The EventSource would reconnect by itself with a used ticket: this client reconnects instead.
      source.close();
      this.ended(code, reason, token);
    };
    source.addEventListener('close', (event) => {
      let goodbye: StreamClose = { code: CloseCodes.goingAway, reason: 'stream ended' };
      try {
        goodbye = JSON.parse(String(event.data)) as StreamClose;
      } catch {
        // a malformed goodbye still ends the stream
      }
      finish(goodbye.code, goodbye.reason);
    });
    source.onerror = () => finish(1006, 'stream interrupted');
  }

  /** A connection ended (either transport): stop, renew the token at once, or back off and retry. */
  private ended(code: number, reason: string, token: string, retryInMs?: number) {
    if (this.stopped) return;
    if (FATAL_CLOSE_CODES.includes(code)) {
      this.stopped = true;
      this.setState('stopped', { code, reason });
      return;
    }
    if (code === CloseCodes.tokenExpired) {
      // Everything up to the close was sent: renew and resume from here at once, no backoff.
      this.expiredToken = token;
      this.setState('reconnecting', { code, reason, retryInMs: 0 });
      void this.connect();
      return;
    }
    if (retryInMs === 0) {
      this.setState('reconnecting', { code, reason, retryInMs });
      void this.connect();
      return;
    }
    this.scheduleReconnect(code, reason);
  }

  private scheduleReconnect(code: number | undefined, reason: string) {
    const { initialMs = 500, maxMs = 30_000 } = this.options.backoff ?? {};
    const base = Math.min(maxMs, initialMs * 2 ** this.attempt);
    const retryInMs = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.setState('reconnecting', { code, reason, retryInMs });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, retryInMs);
  }

  private handle(data: unknown): ServerMessage['type'] | undefined {
    let message: ServerMessage;
    try {
      message = JSON.parse(
        typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer),
      ) as ServerMessage;
    } catch {
      return undefined;
    }
    switch (message.type) {
      case 'event':
        if (this.sequence !== undefined && message.sequence <= this.sequence) return 'event'; // duplicate
        this.sequence = message.sequence;
        this.options.onEvent(message.event, message.sequence);
        return 'event';
      case 'resync':
        this.sequence = message.sequence;
        this.options.onResync?.(message.sequence);
        return 'resync';
      case 'hello':
        // Filtered connections skip sequences: the server's position is where to resume.
        if (this.sequence === undefined || message.sequence > this.sequence) this.sequence = message.sequence;
        this.attempt = 0;
        this.expiredToken = undefined;
        this.setState('open');
        this.options.onLive?.(message.sequence);
        return 'hello';
    }
  }
}
