import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import type { LiveMessage, StreamClose } from './protocol.js';

export type TransportKind = 'websocket' | 'sse';

/**
 * What a live connection needs of the wire under it. The delivery rules (sequences, replay,
 * bounds, expiry) are the connection's and the same for every transport; a transport only
 * frames, queues, pings and closes.
 */
export interface LiveTransport {
  readonly kind: TransportKind;
  /** Whether frames can still be written. */
  readonly open: boolean;
  /** Bytes written but not yet taken by the peer's TCP window (the backpressure measure). */
  readonly bufferedAmount: number;
  /** Queues one frame (`json` is the serialized LiveMessage); `done` runs once it left the process. */
  send(type: LiveMessage<unknown>['type'], sequence: number, json: string, done: () => void): void;
  /** A liveness probe; `onAlive` fires when it is answered. */
  ping(): void;
  /** Ends after what was queued, telling the client why. */
  close(code: number, reason: string): void;
  /** Ends now, without a goodbye (a dead peer, or one that had its grace). */
  terminate(): void;
  onClose(listener: () => void): void;
  onAlive(listener: () => void): void;
  onError(listener: (err: Error) => void): void;
}

/** A `ws` socket as a transport: frames are text messages, liveness is ping/pong. */
export function webSocketTransport(ws: WebSocket): LiveTransport {
  return {
    kind: 'websocket',
    get open() {
      return ws.readyState === ws.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (_type, _sequence, json, done) => ws.send(json, () => done()),
    ping: () => ws.ping(),
    // A close reason has at most 123 bytes.
    close: (code, reason) => ws.close(code, Buffer.from(reason).subarray(0, 120).toString()),
    terminate: () => ws.terminate(),
    onClose: (listener) => void ws.once('close', listener),
    onAlive(listener) {
      ws.on('pong', listener);
      ws.on('message', listener); // clients have nothing to say; any frame still proves life
    },
    onError: (listener) => void ws.on('error', listener),
  };
}

/** An SSE event: `id` is the sequence, so a reconnecting EventSource sends it as `Last-Event-ID`. */
export const sseFrame = (type: string, id: number | undefined, data: string) =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${data}\n\n`;

/**
 * An HTTP response as a Server-Sent Events transport. SSE has no way back from the client, so
 * liveness is measured on the way out: a heartbeat comment that is still unsent when the next
 * one is due means a peer that stopped reading (or vanished); a peer that closed is seen at once.
 */
export function sseTransport(req: IncomingMessage, res: ServerResponse): LiveTransport {
  const socket = res.socket;
  let ended = false;
  const closeListeners: (() => void)[] = [];
  const aliveListeners: (() => void)[] = [];
  const onEnded = () => {
    if (ended) return;
    ended = true;
    for (const listener of closeListeners) listener();
  };
  res.on('close', onEnded);
  req.on('close', () => {
    // The request body ends first on a normal request; only a destroyed socket means the peer left.
    if (req.socket.destroyed) onEnded();
  });
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Proxies that buffer responses (nginx) would hold the events back.
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  // Small frames at once, not after Nagle's delay.
  socket?.setNoDelay(true);
  res.flushHeaders();
  const transport: LiveTransport = {
    kind: 'sse',
    get open() {
      return !ended && !res.writableEnded && !res.destroyed;
    },
    get bufferedAmount() {
      return res.writableLength + (socket?.writableLength ?? 0);
    },
    send(type, sequence, json, done) {
      res.write(sseFrame(type, sequence, json), () => done());
    },
    ping() {
      res.write(': ping\n\n', (err) => {
        if (!err) for (const listener of aliveListeners) listener();
      });
    },
    close(code, reason) {
      if (!transport.open) return;
      const goodbye: StreamClose = { code, reason };
      res.end(sseFrame('close', undefined, JSON.stringify(goodbye)));
    },
    terminate() {
      res.destroy();
      onEnded();
    },
    onClose: (listener) => void closeListeners.push(listener),
    onAlive: (listener) => void aliveListeners.push(listener),
    onError: (listener) => void res.on('error', listener),
  };
  return transport;
}
