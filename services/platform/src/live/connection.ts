import type { Logger } from '../logger.js';
import { CloseCodes, type LiveMessage } from './protocol.js';
import { type ReadHistory, readMissed } from './replay.js';
import type { LiveTransport } from './transport.js';

/** A live event stored under `sequence`, with its frame serialized once for all connections. */
export interface Pending<E> {
  sequence: number;
  event: E;
  frame: string;
}

export const frameOf = <E>(message: LiveMessage<E>) => JSON.stringify(message);

type FrameType = LiveMessage<unknown>['type'];

/** What a connection takes from the hub that holds it. */
export interface ConnectionContext<E> {
  read: ReadHistory<E>;
  /** Events read per history query while replaying. */
  replayPageSize: number;
  /** A connection whose unsent bytes would pass this is closed with 4429. */
  maxBufferedBytes: number;
  /** After a 4429 close is queued, how long the transport may stay before it is destroyed. */
  slowCloseGraceMs: number;
  /** A frame was queued; `buffered` is what the connection holds unsent with it. */
  onSent(type: FrameType, buffered: number): void;
  /** The connection ended, by the server or the peer; `reason` labels the metric. */
  onEnded(connection: Connection<E>, reason: string): void;
}

export type Connection<E> = ReturnType<typeof createConnection<E>>;

/** setTimeout's longest delay; a later `exp` is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ConnectionInit<E> {
  transport: LiveTransport;
  /** The subscriber whose stream this connection follows (the history's key). */
  key: string;
  /** The principal that opened it (connection limits and the connection-info endpoint count by it). */
  userId: string;
  /** The connection's filter: only events it passes are sent (the others still advance the position). */
  matches: (event: E) => boolean;
  log: Logger;
  /** When the token the connection was opened with expires (ms since the epoch); the connection ends then. */
  expiresAt?: number;
}

/**
 * One client's delivery rules: every event a connection sends has a sequence one above the last
 * it sent (or it was filtered out), so a client sees no gap and no duplicate, whichever way an
 * event arrived. While it replays history, live events wait in a queue and are merged after.
 */
export function createConnection<E>(init: ConnectionInit<E>, context: ConnectionContext<E>) {
  const { transport, key, userId, matches, log, expiresAt } = init;
  const { maxBufferedBytes } = context;
  /** `catching-up`: reading history; live events wait in `pending` and are merged after. */
  let state: 'catching-up' | 'live' | 'closed' = 'catching-up';
  let pending: Pending<E>[] = [];
  let pendingBytes = 0;
  let lastWrite: Promise<void> = Promise.resolve();
  let expiry: NodeJS.Timeout | undefined;
  const closedPromise = new Promise<void>((resolve) => transport.onClose(() => resolve()));

  /** A function, not a read of `state`, so the check survives TypeScript's narrowing across awaits. */
  const isClosed = () => state === 'closed';

  function enqueue(item: Pending<E>) {
    pending.push(item);
    pendingBytes += item.frame.length;
    if (pendingBytes > maxBufferedBytes) closeSlow();
  }

  function deliver(item: Pending<E>) {
    connection.lastSequence = item.sequence;
    if (matches(item.event)) sendLive('event', item.sequence, item.frame);
  }

  /** Live frames never wait: a client that does not read is cut off before the bound. */
  function sendLive(type: FrameType, sequence: number, frame: string) {
    if (state === 'closed' || !transport.open) return;
    const buffered = transport.bufferedAmount;
    // One frame always fits into an empty buffer, so an event larger than the bound still goes out.
    if (buffered > 0 && buffered + frame.length > maxBufferedBytes) return closeSlow();
    write(type, sequence, frame);
  }

  /** Replayed frames wait for the client to take what was sent before (bounded the same way). */
  async function sendPaced(type: FrameType, sequence: number, frame: string) {
    const buffered = transport.bufferedAmount;
    if (buffered > 0 && buffered + frame.length > maxBufferedBytes) {
      await Promise.race([lastWrite, closedPromise]);
    }
    if (isClosed() || !transport.open) return;
    write(type, sequence, frame);
  }

  function write(type: FrameType, sequence: number, frame: string) {
    context.onSent(type, transport.bufferedAmount + frame.length);
    lastWrite = new Promise((resolve) => transport.send(type, sequence, frame, resolve));
  }

  /**
   * Reads history from `lastSequence` on, then merges what arrived live meanwhile (dropping what
   * the pages already had). Beyond the kept window: one `resync` and the connection goes on from
   * the subscriber's current sequence.
   */
  async function catchUp(initial: boolean) {
    if (isClosed()) return;
    if (!initial && state === 'catching-up') return; // the running catch-up merges the queue
    state = 'catching-up';
    try {
      for (;;) {
        for await (const missed of readMissed(
          context.read,
          key,
          connection.lastSequence,
          context.replayPageSize,
        )) {
          if (isClosed()) return;
          connection.lastSequence = missed.sequence;
          if (missed.type === 'resync') await sendPaced('resync', missed.sequence, frameOf<E>(missed));
          else if (matches(missed.event)) await sendPaced('event', missed.sequence, frameOf(missed));
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
      if (initial) {
        const hello = { type: 'hello', sequence: connection.lastSequence } as const;
        sendLive('hello', hello.sequence, frameOf<E>(hello));
      }
    } catch (err) {
      log.error({ err }, 'reading live-stream history failed; closing the connection');
      close(1011, 'history unavailable; reconnect with since');
    }
  }

  function closeSlow() {
    if (state === 'closed') return;
    log.warn(
      { buffered: transport.bufferedAmount, pending: pendingBytes, transport: transport.kind },
      'client not reading; disconnecting',
    );
    close(
      CloseCodes.slowConsumer,
      `client not reading: more than ${maxBufferedBytes} bytes unsent`,
      'slow_consumer',
    );
    // The close waits behind the unread bytes; do not keep them longer than the grace.
    const timer = setTimeout(() => transport.terminate(), context.slowCloseGraceMs);
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
    if (end(metricReason)) transport.close(code, reason);
  }

  const connection = {
    transport,
    key,
    userId,
    log,
    /** Highest sequence this connection has passed (sent or filtered out). */
    lastSequence: 0,
    isClosed,
    /** A live event from the bus (already stored under `sequence`). */
    offer(item: Pending<E>) {
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
    /** Without a goodbye (a dead peer, or one that had its grace). */
    terminate(reason: string) {
      end(reason);
      transport.terminate();
    },
    /** The peer went away. */
    ended: () => end('client'),
    get bufferedAmount() {
      return transport.bufferedAmount;
    },
  };
  /**
   * A connection lives no longer than its token: at `exp` it is closed with 4498 (the frames sent
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
