import { eventually } from '@taskstream/platform/test-support';
import WebSocket from 'ws';
import type { ServerMessage } from '../protocol.js';

export interface ProbeOptions {
  /** Sent as `Sec-WebSocket-Protocol: bearer, <jwt>`. */
  token?: string;
  /** Put the token into the URL as `?token=` instead (refused by the server). */
  viaQuery?: boolean;
  /** The `Origin` header a browser would send (none by default, as from a non-browser client). */
  origin?: string;
  since?: number;
  /** Extra query parameters (filters). */
  query?: Record<string, string>;
  /** Another stream's WebSocket path (default `/ws/tasks`): the payments tracker's tests. */
  path?: string;
  /** false: never answer pings (a dead client). */
  autoPong?: boolean;
}

/** A raw WebSocket that records every frame and how it closed; for integration tests. */
export class Probe {
  readonly messages: ServerMessage[] = [];
  readonly ws: WebSocket;
  closedWith: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(baseUrl: string, options: ProbeOptions = {}) {
    const params = new URLSearchParams(options.query);
    if (options.since !== undefined) params.set('since', String(options.since));
    if (options.token && options.viaQuery) params.set('token', options.token);
    const url = `${baseUrl.replace(/^http/, 'ws')}${options.path ?? '/ws/tasks'}?${params}`;
    const protocols = options.token && !options.viaQuery ? ['bearer', options.token] : undefined;
    this.ws = new WebSocket(url, protocols, {
      autoPong: options.autoPong ?? true,
      ...(options.origin ? { origin: options.origin } : {}),
    });
    this.ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as ServerMessage));
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      }),
    );
  }

  get events() {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: 'event' }> => m.type === 'event');
  }

  /** Waits for the `hello` that ends the replay; returns its sequence. */
  async live(timeoutMs = 15000): Promise<number> {
    const hello = await eventually(async () => this.messages.find((m) => m.type === 'hello'), timeoutMs, 10);
    return hello.sequence;
  }

  async waitForEvents(count: number, timeoutMs = 15000) {
    await eventually(async () => this.events.length >= count, timeoutMs, 10);
    return this.events;
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}
