import type { Logger, Metrics, Pool } from '@taskstream/platform';
import type { WebSocket } from 'ws';
import { type Connection, createConnection, frameOf } from './connection.js';
import { createHeartbeat } from './heartbeat.js';
import { readHistory } from './history.js';
import { CloseCodes, type LiveQuery, type SyncedEvent } from './protocol.js';

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
  /** Connections one user may hold here; a further one is closed with 4409. */
  maxConnectionsPerUser: number;
}

export interface HubStats {
  connections: number;
  users: number;
  /** Bytes the open connections have queued right now (ws bufferedAmount, summed). */
  bufferedBytes: number;
  /** The most one connection ever had queued at the moment a frame was added. */
  maxBufferedBytesSeen: number;
}

/**
 * The open connections of this replica, by user: takes over authenticated sockets, hands each
 * stored event to its user's connections, and ends them at shutdown. What one connection sends
 * is its own business (connection.ts); liveness is the heartbeat's (heartbeat.ts).
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

  const heartbeat = createHeartbeat<Connection>({
    periodMs: options.heartbeatMs,
    onDead: (connection) => connection.terminate('heartbeat_timeout'),
  });

  const context = {
    pool,
    replayPageSize: options.replayPageSize,
    maxBufferedBytes: options.maxBufferedBytes,
    slowCloseGraceMs: options.slowCloseGraceMs,
    onSent(type: string, buffered: number) {
      if (buffered > maxBufferedBytesSeen) maxBufferedBytesSeen = buffered;
      sent.inc({ type });
    },
    onEnded(connection: Connection, reason: string) {
      heartbeat.remove(connection);
      const set = byUser.get(connection.userId);
      set?.delete(connection);
      if (set?.size === 0) byUser.delete(connection.userId);
      closed.inc({ reason });
    },
  };

  function stats(): HubStats {
    let connections = 0;
    let bufferedBytes = 0;
    for (const set of byUser.values()) {
      connections += set.size;
      for (const c of set) bufferedBytes += c.bufferedAmount;
    }
    return { connections, users: byUser.size, bufferedBytes, maxBufferedBytesSeen };
  }

  return {
    /**
     * Takes over an authenticated socket until `expiresAt` (its token's `exp`): register first,
     * then replay, so no live event slips between.
     */
    attach(ws: WebSocket, userId: string, query: LiveQuery, expiresAt?: number) {
      if (stopped) {
        ws.close(CloseCodes.goingAway, 'server shutting down');
        return;
      }
      // Each connection holds a socket, timers and up to SYNC_MAX_BUFFERED_BYTES: one user (or
      // one stolen token) does not get to open them without end.
      if ((byUser.get(userId)?.size ?? 0) >= options.maxConnectionsPerUser) {
        closed.inc({ reason: 'too_many_connections' });
        ws.close(
          CloseCodes.tooManyConnections,
          `at most ${options.maxConnectionsPerUser} connections per user`,
        );
        return;
      }
      const log = logger.child({ user_id: userId });
      const connection = createConnection({ ws, userId, filter: query.filter, log, expiresAt }, context);
      const set = byUser.get(userId) ?? new Set<Connection>();
      byUser.set(userId, set);
      set.add(connection);
      heartbeat.add(connection);
      ws.on('error', (err) => connection.log.debug({ err }, 'websocket error'));
      ws.on('close', () => connection.ended());
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
        await connection.start();
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
      heartbeat.stop();
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
