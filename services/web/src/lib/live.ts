/**
 * Live events over `WS /ws/tasks` (or another stream of the same protocol, `stream`: the payments
 * tracker) through the sync service's typed client: it resumes from the
 * last sequence after a reconnect and drops duplicates, and falls back to Server-Sent Events
 * (`GET /api/sync/stream`) when a proxy breaks WebSockets. This wrapper adds what a page needs:
 * where to start (the user's current sequence, read before the task list loads, so nothing
 * between the two is lost), pausing while the browser is offline, and one state to show.
 */

import {
  CloseCodes,
  type EventSourceConstructor,
  SyncClient,
  type SyncClientState,
  type SyncedEvent,
  type SyncTransport,
  type WebSocketConstructor,
} from '@taskstream/sync/client';
import type { SyncEvents } from '../types.js';
import { type Api, ApiError } from './api.js';

export type { SyncedEvent };

export type LiveState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'unavailable';

export const LIVE_STATE_TEXT: Record<LiveState, string> = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  unavailable: 'Live updates not available',
};

export interface LiveOptions {
  api: Api;
  /**
   * Which stream (same protocol, ADR 0019): its WebSocket and SSE paths and where the REST
   * history says the current sequence (`null`: none, connect live only). Default: the task stream.
   */
  stream?: { ws: string; sse: string; history: string | null };
  /** The page's origin (http or https); the client turns it into ws(s). */
  baseUrl: string;
  token: () => string | null;
  onEvent: (event: SyncedEvent, sequence: number) => void;
  /** Events were missed beyond the server's history: reload over REST. */
  onResync: () => void;
  onState: (state: LiveState, detail?: string) => void;
  /**
   * The server refused the token (4401) or closed at its expiry (4498) and `token()` had no newer
   * one: the session is over, as a 401 over REST says.
   */
  onSessionEnded?: () => void;
  /** For tests: the socket implementation (default: the browser's). */
  WebSocket?: WebSocketConstructor;
  /** For tests: the EventSource to fall back to (default: the browser's). */
  EventSource?: EventSourceConstructor;
  /** For tests: the window to watch for online/offline. */
  window?: Pick<Window, 'addEventListener' | 'removeEventListener'> & { navigator: { onLine: boolean } };
}

export class LiveConnection {
  private client: SyncClient | undefined;
  private sequence: number | undefined;
  private stopped = false;
  private state: LiveState | undefined;
  private detail: string | undefined;
  private everConnected = false;
  private readonly win: NonNullable<LiveOptions['window']> | undefined;

  constructor(private readonly options: LiveOptions) {
    this.win = options.window ?? (typeof window !== 'undefined' ? window : undefined);
  }

  /** How live events arrive right now. */
  get transport(): SyncTransport | undefined {
    return this.client?.transport;
  }

  get lastSequence(): number | undefined {
    return this.client?.lastSequence ?? this.sequence;
  }

  private setState(state: LiveState, detail?: string) {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.options.onState(state, detail);
  }

  /** Reads where the user's stream stands, then connects from there. */
  async start(): Promise<void> {
    this.stopped = false;
    this.win?.addEventListener('offline', this.onOffline);
    this.win?.addEventListener('online', this.onOnline);
    this.setState('connecting');
    const historyPath = this.options.stream ? this.options.stream.history : '/api/sync/events';
    try {
      // Without a history to ask, live from now on (the caller loads the past over REST).
      if (historyPath === null) this.sequence = undefined;
      else {
        const history = await this.options.api.request<SyncEvents>('GET', historyPath, {
          query: { since: 0, limit: 1 },
        });
        this.sequence = history.latest ?? 0;
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && err.status === 404) return this.setState('unavailable');
      // Reachable later, perhaps: connect live-only and let the client retry.
      this.sequence = undefined;
    }
    if (this.stopped) return;
    if (this.win && !this.win.navigator.onLine) return this.setState('offline');
    this.connect();
  }

  /** A new client from the last position (the old one, if any, is stopped without a state change). */
  private connect() {
    this.halt();
    const client = new SyncClient({
      url: this.options.baseUrl,
      paths: this.options.stream,
      token: () => this.options.token() ?? '',
      since: this.sequence,
      WebSocket: this.options.WebSocket,
      sse: { EventSource: this.options.EventSource },
      onEvent: (event, sequence) => this.options.onEvent(event, sequence),
      onResync: () => this.options.onResync(),
      onStateChange: (state: SyncClientState, detail) => {
        if (this.client !== client || this.stopped) return;
        if (state === 'open') {
          this.everConnected = true;
          this.setState('connected', client.transport === 'sse' ? 'over Server-Sent Events' : undefined);
        } else if (state === 'stopped') {
          this.setState('offline', detail?.reason || 'the server refused the connection');
          if (detail?.code === CloseCodes.tokenExpired || detail?.code === CloseCodes.unauthorized)
            this.options.onSessionEnded?.();
        } else this.setState(this.everConnected || state === 'reconnecting' ? 'reconnecting' : 'connecting');
      },
    });
    this.client = client;
    client.start();
  }

  /** The browser lost the network: stop trying (each try would fail) and remember the position. */
  private onOffline = () => {
    if (this.stopped || this.state === 'unavailable') return;
    this.halt();
    this.setState('offline');
  };

  private halt() {
    const old = this.client;
    if (!old) return;
    this.sequence = old.lastSequence ?? this.sequence;
    this.client = undefined;
    old.stop();
  }

  /** Back online: resume after the last event seen, so what happened meanwhile is replayed. */
  private onOnline = () => {
    if (this.stopped || this.state === 'unavailable') return;
    this.connect();
  };

  /** Reconnects now (e.g. after a fatal close once the user signed in again). */
  reconnect() {
    if (this.stopped || this.state === 'unavailable') return;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.win?.removeEventListener('offline', this.onOffline);
    this.win?.removeEventListener('online', this.onOnline);
    this.halt();
  }
}
