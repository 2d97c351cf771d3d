import type { Logger, Metrics, Pool } from '@taskstream/platform';
import { WebSocket } from 'ws';
import { readHistory } from './history.js';
import {
  CloseCodes,
  type LiveQuery,
  matchesFilter,
  replayPlan,
  type ServerMessage,
  type SyncedEvent,
  type SyncFilter,
} from './protocol.js';

export interface HubOptions {
  pool: Pool;
  logger: Logger;
  metrics: Metrics;
  /** Events read per history query while replaying. */
  replayPageSize: number;
  /** A connection whose unsent bytes would pass this is closed with 4429. */
  maxBufferedBytes: number;
  /** Ping period; a connection that has not answered the previous ping is dropped. */
  heartbeatMs: number;
  /** After a 4429 close frame is queued, how long the socket may stay before it is destroyed. */
  slowCloseGraceMs: number;
}

export interface HubStats {
  connections: number;
  users: number;
  /** Bytes the open connections have queued right now (ws bufferedAmount, summed). */
  bufferedBytes: number;
  /** The most one connection ever had queued at the moment a frame was added. */
  maxBufferedBytesSeen: number;
}

interface Pending {
  sequence: number;
  event: SyncedEvent;
  frame: string;
}

/** How often a slice of the connections is pinged: the heartbeat period is cut into slots this long. */
const HEARTBEAT_SLOT_MS = 100;

const frameOf = (message: ServerMessage) => JSON.stringify(message);

/**
 * The open connections of this replica, by user, and the per-connection delivery rules:
 * every event a connection sends has a sequence one above the last it sent (or it was filtered
 * out), so a client sees no gap and no duplicate, whichever way an event arrived.
 */
export function createHub(options: HubOptions) {
  const { pool, logger, metrics } = options;
  const byUser = new Map<string, Set<Connection>>();
  let maxBufferedBytesSeen = 0;
  let stopped = false;

  const sent = metrics.counter('sync_messages_sent_total', 'Frames sent to WebSocket clients', ['type']);
  const closed = metrics.counter('sync_disconnects_total', 'WebSocket connections ended, by reason', [
    'reason',
  ]);
  metrics.gauge('sync_connections', 'Open WebSocket connections', [], (g) => g.set(stats().connections));

  class Connection {
    /** Highest sequence this connection has passed (sent or filtered out); undefined until known. */
    lastSequence = 0;
    /** `catching-up`: reading history; live events wait in `pending` and are merged after. */
    state: 'catching-up' | 'live' | 'closed' = 'catching-up';
    pending: Pending[] = [];
    pendingBytes = 0;
    alive = true;
    /** The heartbeat slot this connection is pinged in. */
    slot: Set<Connection> | undefined;
    private lastWrite: Promise<void> = Promise.resolve();
    private readonly closedPromise: Promise<void>;

    constructor(
      readonly ws: WebSocket,
      readonly userId: string,
      readonly filter: SyncFilter,
      readonly log: Logger,
    ) {
      this.closedPromise = new Promise((resolve) => ws.once('close', () => resolve()));
    }

    /** A method, not a field read, so the check survives TypeScript's narrowing across awaits. */
    isClosed() {
      return this.state === 'closed';
    }

    /** A live event from the bus (already stored under `sequence`). */
    offer(item: Pending) {
      if (this.state === 'closed') return;
      if (this.state === 'catching-up') return this.enqueue(item);
      if (item.sequence <= this.lastSequence) return;
      if (item.sequence === this.lastSequence + 1) return this.deliver(item);
      // A gap (the replica saw an event this connection did not, e.g. it was stored before the
      // connection knew its position): read the missing ones from history first.
      this.enqueue(item);
      void this.catchUp(false);
    }

    private enqueue(item: Pending) {
      this.pending.push(item);
      this.pendingBytes += item.frame.length;
      if (this.pendingBytes > options.maxBufferedBytes) this.closeSlow();
    }

    private deliver(item: Pending) {
      this.lastSequence = item.sequence;
      if (matchesFilter(item.event, this.filter)) this.sendLive(item.frame, 'event');
    }

    /** Live frames never wait: a client that does not read is cut off before the bound. */
    sendLive(frame: string, type: ServerMessage['type']) {
      if (this.state === 'closed' || this.ws.readyState !== WebSocket.OPEN) return;
      const buffered = this.ws.bufferedAmount;
      // One frame always fits into an empty buffer, so an event larger than the bound still goes out.
      if (buffered > 0 && buffered + frame.length > options.maxBufferedBytes) return this.closeSlow();
      this.write(frame, type);
    }

    /** Replayed frames wait for the client to take what was sent before (bounded the same way). */
    private async sendPaced(frame: string, type: ServerMessage['type']) {
      if (this.ws.bufferedAmount > 0 && this.ws.bufferedAmount + frame.length > options.maxBufferedBytes) {
        await Promise.race([this.lastWrite, this.closedPromise]);
      }
      if (this.isClosed() || this.ws.readyState !== WebSocket.OPEN) return;
      this.write(frame, type);
    }

    private write(frame: string, type: ServerMessage['type']) {
      const buffered = this.ws.bufferedAmount + frame.length;
      if (buffered > maxBufferedBytesSeen) maxBufferedBytesSeen = buffered;
      this.lastWrite = new Promise((resolve) => this.ws.send(frame, () => resolve()));
      sent.inc({ type });
    }

    /**
     * Reads history from `lastSequence` on, page by page, then merges what arrived live meanwhile
     * (dropping what the pages already had). Beyond the kept window: one `resync` and the
     * connection goes on from the user's current sequence.
     */
    async catchUp(initial: boolean) {
      if (this.isClosed()) return;
      if (!initial && this.state === 'catching-up') return; // the running catch-up merges the queue
      this.state = 'catching-up';
      try {
        for (;;) {
          for (;;) {
            const page = await readHistory(pool, this.userId, this.lastSequence, options.replayPageSize);
            if (this.isClosed()) return;
            const plan = replayPlan(this.lastSequence, page.latest, page.events[0]?.sequence);
            if (plan === 'none') break;
            if (plan === 'resync') {
              this.lastSequence = page.latest;
              await this.sendPaced(frameOf({ type: 'resync', sequence: page.latest }), 'resync');
              break;
            }
            for (const { sequence, event } of page.events) {
              if (sequence !== this.lastSequence + 1) break; // trimmed meanwhile: the next read decides
              this.lastSequence = sequence;
              if (matchesFilter(event, this.filter))
                await this.sendPaced(frameOf({ type: 'event', sequence, event }), 'event');
              if (this.isClosed()) return;
            }
            if (page.events.length < options.replayPageSize && this.lastSequence >= page.latest) break;
          }
          // Merge the live events queued while reading; a gap among them means another read.
          let gap = false;
          while (this.pending.length > 0) {
            const item = this.pending[0]!;
            if (item.sequence > this.lastSequence + 1) {
              gap = true;
              break;
            }
            this.pending.shift();
            this.pendingBytes -= item.frame.length;
            if (item.sequence === this.lastSequence + 1) this.deliver(item);
          }
          if (!gap) break;
        }
        if (this.isClosed()) return;
        this.state = 'live';
        if (initial) this.sendLive(frameOf({ type: 'hello', sequence: this.lastSequence }), 'hello');
      } catch (err) {
        this.log.error({ err }, 'reading sync history failed; closing the connection');
        this.close(1011, 'history unavailable; reconnect with since');
      }
    }

    closeSlow() {
      if (this.state === 'closed') return;
      this.log.warn(
        { buffered: this.ws.bufferedAmount, pending: this.pendingBytes },
        'client not reading; disconnecting',
      );
      this.close(
        CloseCodes.slowConsumer,
        `client not reading: more than ${options.maxBufferedBytes} bytes unsent`,
        'slow_consumer',
      );
      // The close frame waits behind the unread bytes; do not keep them longer than the grace.
      const timer = setTimeout(() => this.ws.terminate(), options.slowCloseGraceMs);
      timer.unref();
    }

    close(code: number, reason: string, metricReason = String(code)) {
      if (this.state === 'closed') return;
      this.state = 'closed';
      this.pending = [];
      this.pendingBytes = 0;
      forget(this);
      closed.inc({ reason: metricReason });
      this.ws.close(code, reason);
    }
  }

  function forget(connection: Connection) {
    connection.slot?.delete(connection);
    const set = byUser.get(connection.userId);
    if (!set) return;
    set.delete(connection);
    if (set.size === 0) byUser.delete(connection.userId);
  }

  // Heartbeat: a connection that did not answer its previous ping by its next one is dead. The
  // connections are spread over slots pinged one after another through the period, so that
  // thousands of pings (and their pongs) never land in one turn of the event loop: pinging
  // 5,000 at once held the loop long enough to show in the delivery tail (ADR 0007).
  const slotCount = Math.max(1, Math.floor(options.heartbeatMs / HEARTBEAT_SLOT_MS));
  const slots = Array.from({ length: slotCount }, () => new Set<Connection>());
  let nextSlot = 0;
  let attached = 0;
  const heartbeat = setInterval(() => {
    const slot = slots[nextSlot]!;
    nextSlot = (nextSlot + 1) % slotCount;
    for (const connection of slot) {
      if (!connection.alive) {
        connection.state = 'closed';
        forget(connection);
        closed.inc({ reason: 'heartbeat_timeout' });
        connection.ws.terminate();
        continue;
      }
      connection.alive = false;
      connection.ws.ping();
    }
  }, options.heartbeatMs / slotCount);
  heartbeat.unref();

  function stats(): HubStats {
    let connections = 0;
    let bufferedBytes = 0;
    for (const set of byUser.values()) {
      connections += set.size;
      for (const c of set) bufferedBytes += c.ws.bufferedAmount;
    }
    return { connections, users: byUser.size, bufferedBytes, maxBufferedBytesSeen };
  }

  return {
    /** Takes over an authenticated socket: register first, then replay, so no live event slips between. */
    attach(ws: WebSocket, userId: string, query: LiveQuery) {
      if (stopped) {
        ws.close(CloseCodes.goingAway, 'server shutting down');
        return;
      }
      const connection = new Connection(ws, userId, query.filter, logger.child({ user_id: userId }));
      const set = byUser.get(userId) ?? new Set<Connection>();
      byUser.set(userId, set);
      set.add(connection);
      const slot = slots[attached++ % slotCount]!;
      connection.slot = slot;
      slot.add(connection);
      ws.on('pong', () => {
        connection.alive = true;
      });
      ws.on('message', () => {
        connection.alive = true; // clients have nothing to say; any frame still proves life
      });
      ws.on('error', (err) => connection.log.debug({ err }, 'websocket error'));
      ws.on('close', () => {
        if (connection.state !== 'closed') {
          connection.state = 'closed';
          forget(connection);
          closed.inc({ reason: 'client' });
        }
      });
      void (async () => {
        if (query.since === undefined) {
          // Live only: the position is the user's current sequence.
          try {
            connection.lastSequence = (await readHistory(pool, userId, Number.MAX_SAFE_INTEGER, 1)).latest;
          } catch (err) {
            connection.log.error({ err }, 'reading the sync position failed');
            return connection.close(1011, 'history unavailable; reconnect');
          }
        } else {
          connection.lastSequence = query.since;
        }
        await connection.catchUp(true);
      })();
    },

    /** An event stored under `sequence`: to every open connection of its user on this replica. */
    publish(userId: string, sequence: number, event: SyncedEvent) {
      const set = byUser.get(userId);
      if (!set) return;
      const item = { sequence, event, frame: frameOf({ type: 'event', sequence, event }) };
      for (const connection of set) connection.offer(item);
    },

    stats,

    async stop() {
      stopped = true;
      clearInterval(heartbeat);
      const all = [...byUser.values()].flatMap((set) => [...set]);
      for (const connection of all)
        connection.close(CloseCodes.goingAway, 'server shutting down', 'shutdown');
      // Give close frames a moment, then make sure nothing keeps the server open.
      await new Promise((r) => setTimeout(r, all.length > 0 ? 100 : 0));
      for (const connection of all) connection.ws.terminate();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
