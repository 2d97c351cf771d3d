import type { Logger, Pool } from '@taskstream/platform';
import { WebSocket } from 'ws';
import {
  CloseCodes,
  matchesFilter,
  type ServerMessage,
  type SyncedEvent,
  type SyncFilter,
} from './protocol.js';
import { readMissed } from './replay.js';

/** A live event stored under `sequence`, with its frame serialized once for all connections. */
export interface Pending {
  sequence: number;
  event: SyncedEvent;
  frame: string;
}

export const frameOf = (message: ServerMessage) => JSON.stringify(message);

/** What a connection takes from the hub that holds it. */
export interface ConnectionContext {
  pool: Pool;
  /** Events read per history query while replaying. */
  replayPageSize: number;
  /** A connection whose unsent bytes would pass this is closed with 4429. */
  maxBufferedBytes: number;
  /** After a 4429 close frame is queued, how long the socket may stay before it is destroyed. */
  slowCloseGraceMs: number;
  /** A frame was queued; `buffered` is what the connection holds unsent with it. */
  onSent(type: ServerMessage['type'], buffered: number): void;
  /** The connection ended, by the server or the peer; `reason` labels the metric. */
  onEnded(connection: Connection, reason: string): void;
}

export type Connection = ReturnType<typeof createConnection>;

/** setTimeout's longest delay; a later `exp` is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ConnectionInit {
  ws: WebSocket;
  userId: string;
  filter: SyncFilter;
  log: Logger;
  /** When the token the socket was opened with expires (ms since the epoch); the socket ends then. */
  expiresAt?: number;
}

/**
 * One client's delivery rules: every event a connection sends has a sequence one above the last
 * it sent (or it was filtered out), so a client sees no gap and no duplicate, whichever way an
 * event arrived. While it replays history, live events wait in a queue and are merged after.
 */
export function createConnection(init: ConnectionInit, context: ConnectionContext) {
  const { ws, userId, filter, log, expiresAt } = init;
  const { maxBufferedBytes } = context;
  /** `catching-up`: reading history; live events wait in `pending` and are merged after. */
  let state: 'catching-up' | 'live' | 'closed' = 'catching-up';
  let pending: Pending[] = [];
  let pendingBytes = 0;
  let lastWrite: Promise<void> = Promise.resolve();
  let expiry: NodeJS.Timeout | undefined;
  const closedPromise = new Promise<void>((resolve) => ws.once('close', () => resolve()));

  /** A function, not a read of `state`, so the check survives TypeScript's narrowing across awaits. */
  const isClosed = () => state === 'closed';

  function enqueue(item: Pending) {
    pending.push(item);
    pendingBytes += item.frame.length;
    if (pendingBytes > maxBufferedBytes) closeSlow();
  }

  function deliver(item: Pending) {
    connection.lastSequence = item.sequence;
    if (matchesFilter(item.event, filter)) sendLive(item.frame, 'event');
  }

  /** Live frames never wait: a client that does not read is cut off before the bound. */
  function sendLive(frame: string, type: ServerMessage['type']) {
    if (state === 'closed' || ws.readyState !== WebSocket.OPEN) return;
    const buffered = ws.bufferedAmount;
    // One frame always fits into an empty buffer, so an event larger than the bound still goes out.
    if (buffered > 0 && buffered + frame.length > maxBufferedBytes) return closeSlow();
    write(frame, type);
  }

  /** Replayed frames wait for the client to take what was sent before (bounded the same way). */
  async function sendPaced(frame: string, type: ServerMessage['type']) {
    if (ws.bufferedAmount > 0 && ws.bufferedAmount + frame.length > maxBufferedBytes) {
      await Promise.race([lastWrite, closedPromise]);
    }
    if (isClosed() || ws.readyState !== WebSocket.OPEN) return;
    write(frame, type);
  }

  function write(frame: string, type: ServerMessage['type']) {
    context.onSent(type, ws.bufferedAmount + frame.length);
    lastWrite = new Promise((resolve) => ws.send(frame, () => resolve()));
  }

  /**
   * Reads history from `lastSequence` on, then merges what arrived live meanwhile (dropping what
   * the pages already had). Beyond the kept window: one `resync` and the connection goes on from
   * the user's current sequence.
   */
  async function catchUp(initial: boolean) {
    if (isClosed()) return;
    if (!initial && state === 'catching-up') return; // the running catch-up merges the queue
    state = 'catching-up';
    try {
      for (;;) {
        for await (const missed of readMissed(
          context.pool,
          userId,
          connection.lastSequence,
          context.replayPageSize,
        )) {
          if (isClosed()) return;
          connection.lastSequence = missed.sequence;
          if (missed.type === 'resync') await sendPaced(frameOf(missed), 'resync');
          else if (matchesFilter(missed.event, filter)) await sendPaced(frameOf(missed), 'event');
          if (isClosed()) return;
        }
        if (isClosed()) return;
        // Merge the live events queued while reading; a gap among them means another read.
        let gap = false;
        while (pending.length > 0) {
          const item = pending[0]!;
          if (item.sequence > connection.lastSequence + 1) {
            gap = true;
            break;
          }
          pending.shift();
          pendingBytes -= item.frame.length;
          if (item.sequence === connection.lastSequence + 1) deliver(item);
        }
        if (!gap) break;
      }
      if (isClosed()) return;
      state = 'live';
      if (initial) sendLive(frameOf({ type: 'hello', sequence: connection.lastSequence }), 'hello');
    } catch (err) {
      log.error({ err }, 'reading sync history failed; closing the connection');
      close(1011, 'history unavailable; reconnect with since');
    }
  }

  function closeSlow() {
    if (state === 'closed') return;
    log.warn({ buffered: ws.bufferedAmount, pending: pendingBytes }, 'client not reading; disconnecting');
    close(
      CloseCodes.slowConsumer,
      `client not reading: more than ${maxBufferedBytes} bytes unsent`,
      'slow_consumer',
    );
    // The close frame waits behind the unread bytes; do not keep them longer than the grace.
    const timer = setTimeout(() => ws.terminate(), context.slowCloseGraceMs);
    timer.unref();
  }

  /** Marks the connection ended once, whoever ended it; true the first time. */
  function end(reason: string) {
    if (state === 'closed') return false;
    state = 'closed';
    clearTimeout(expiry);
    pending = [];
    pendingBytes = 0;
    context.onEnded(connection, reason);
    return true;
  }

  function close(code: number, reason: string, metricReason = String(code)) {
    if (end(metricReason)) ws.close(code, reason);
  }

  const connection = {
    ws,
    userId,
    log,
    /** Highest sequence this connection has passed (sent or filtered out). */
    lastSequence: 0,
    isClosed,
    /** A live event from the bus (already stored under `sequence`). */
    offer(item: Pending) {
      if (state === 'closed') return;
      if (state === 'catching-up') return enqueue(item);
      if (item.sequence <= connection.lastSequence) return;
      if (item.sequence === connection.lastSequence + 1) return deliver(item);
      // A gap (the replica saw an event this connection did not, e.g. it was stored before the
      // connection knew its position): read the missing ones from history first.
      enqueue(item);
      void catchUp(false);
    },
    /** Replays from `lastSequence`, then says hello and goes live. */
    start: () => catchUp(true),
    close,
    /** Without a close frame (a dead peer, or one that had its grace). */
    terminate(reason: string) {
      end(reason);
      ws.terminate();
    },
    /** The peer closed the socket. */
    ended: () => end('client'),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
  /**
   * A socket lives no longer than its token: at `exp` it is closed with 4498 (the frames sent
   * before it come first), and the client reconnects with a renewed token and `since`. Always
   * from a timer, never at once: the hub registers the connection after creating it.
   */
  const expireWhenDue = (at: number) => {
    const left = at - Date.now();
    expiry = setTimeout(
      () => {
        if (Date.now() < at) return expireWhenDue(at);
        log.debug('token expired; closing the connection');
        close(
          CloseCodes.tokenExpired,
          'token expired; reconnect with a new token and since',
          'token_expired',
        );
      },
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
    expiry.unref();
  };
  if (expiresAt !== undefined) expireWhenDue(expiresAt);

  return connection;
}
