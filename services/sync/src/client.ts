/**
 * A small typed client for `WS /ws/tasks`, for the browser and for Node: resumes from the last
 * sequence it saw, drops duplicates, tells the caller to reload on `resync`, reconnects with
 * exponential backoff, and when its token expires (4498) asks for a new one and resumes at
 * once. The socket constructor is injected: the global `WebSocket` in a browser (the default),
 * `ws`'s in Node (`new SyncClient({ WebSocket: WS as WebSocketConstructor, ... })`).
 */
import {
  BEARER_PROTOCOL,
  CloseCodes,
  FATAL_CLOSE_CODES,
  type ServerMessage,
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

export type SyncClientState = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface SyncClientOptions {
  /** The server: `http(s)://host[:port]` or `ws(s)://host[:port]`; `/ws/tasks` is added. */
  url: string;
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
}

export class SyncClient {
  private socket: WebSocketLike | undefined;
  private sequence: number | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private currentState: SyncClientState = 'stopped';
  /** The token the server just closed as expired; a renewal must differ from it. */
  private expiredToken: string | undefined;

  constructor(private readonly options: SyncClientOptions) {
    this.sequence = options.since;
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
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(CloseCodes.normal, 'client stopped');
    this.setState('stopped');
  }

  /** The URL of the next connection (exposed for tests and diagnostics); the token never goes in it. */
  urlFor(): string {
    const base = this.options.url.replace(/^http/, 'ws').replace(/\/+$/, '');
    const params = new URLSearchParams();
    if (this.sequence !== undefined) params.set('since', String(this.sequence));
    const { taskIds, statuses, tags } = this.options.filter ?? {};
    if (taskIds?.length) params.set('task_id', taskIds.join(','));
    if (statuses?.length) params.set('status', statuses.join(','));
    if (tags?.length) params.set('tag', tags.join(','));
    const query = params.toString();
    return `${base}/ws/tasks${query ? `?${query}` : ''}`;
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
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor)
      throw new Error('no WebSocket implementation: pass options.WebSocket (e.g. the `ws` package in Node)');
    // The token travels as a subprotocol, never in the URL (the server refuses that).
    const socket = new Ctor(this.urlFor(), [BEARER_PROTOCOL, token]);
    this.socket = socket;
    socket.onmessage = (message) => {
      if (this.socket === socket) this.handle(message.data);
    };
    socket.onerror = () => undefined; // a close event follows
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.stopped) return;
      if (FATAL_CLOSE_CODES.includes(event.code)) {
        this.stopped = true;
        this.setState('stopped', { code: event.code, reason: event.reason });
        return;
      }
      if (event.code === CloseCodes.tokenExpired) {
        // Everything up to the close was sent: renew and resume from here at once, no backoff.
        this.expiredToken = token;
        this.setState('reconnecting', { code: event.code, reason: event.reason, retryInMs: 0 });
        void this.connect();
        return;
      }
      this.scheduleReconnect(event.code, event.reason);
    };
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

  private handle(data: unknown) {
    let message: ServerMessage;
    try {
      message = JSON.parse(
        typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer),
      ) as ServerMessage;
    } catch {
      return;
    }
    switch (message.type) {
      case 'event':
        if (this.sequence !== undefined && message.sequence <= this.sequence) return; // duplicate
        this.sequence = message.sequence;
        this.options.onEvent(message.event, message.sequence);
        return;
      case 'resync':
        this.sequence = message.sequence;
        this.options.onResync?.(message.sequence);
        return;
      case 'hello':
        // Filtered connections skip sequences: the server's position is where to resume.
        if (this.sequence === undefined || message.sequence > this.sequence) this.sequence = message.sequence;
        this.attempt = 0;
        this.expiredToken = undefined;
        this.setState('open');
        this.options.onLive?.(message.sequence);
        return;
    }
  }
}
