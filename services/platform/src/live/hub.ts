import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { type Connection, createConnection, frameOf } from './connection.js';
import { createHeartbeat } from './heartbeat.js';
import { CloseCodes } from './protocol.js';
import type { ReadHistory } from './replay.js';
import type { LiveTransport, TransportKind } from './transport.js';

export interface HubOptions<E> {
  read: ReadHistory<E>;
  logger: Logger;
  instruments: LiveStreamMetrics;
  /** Events read per history query while replaying. */
  replayPageSize: number;
  /** A connection whose unsent bytes would pass this is closed with 4429. */
  maxBufferedBytes: number;
  /** Ping period; a connection that has not answered the previous ping is dropped. */
  heartbeatMs: number;
  /** After a 4429 close is queued, how long the transport may stay before it is destroyed. */
  slowCloseGraceMs: number;
  /** Connections one user may hold here (all transports together); a further one is closed with 4409. */
  maxConnectionsPerUser: number;
}

type Counter = Pick<ReturnType<Metrics['counter']>, 'inc'>;

/**
 * The series a stream counts into. The service names them (`metrics.counter('sync_…')` in its own
 * source, where the chart check finds what dashboards and alerts query) and hands them over.
 */
export interface LiveStreamMetrics {
  /** Frames queued, by `type` (event, resync, hello). */
  sent: Counter;
  /** Connections ended or refused, by `reason` (a close code, `client`, `slow_consumer`, ...). */
  disconnects: Counter;
  /** Registers the gauge of open connections; `read` is called at scrape time. */
  connections(read: () => number): void;
}

export interface HubStats {
  connections: number;
  /** Distinct subscriber keys with an open connection. */
  users: number;
  /** Open connections by transport. */
  transports: Record<TransportKind, number>;
  /** Bytes the open connections have queued right now (summed). */
  bufferedBytes: number;
  /** The most one connection ever had queued at the moment a frame was added. */
  maxBufferedBytesSeen: number;
}

export interface AttachRequest<E> {
  transport: LiveTransport;
  key: string;
  userId: string;
  matches: (event: E) => boolean;
  /** Resume after this position; absent: live from the subscriber's current sequence. */
  since?: number;
  expiresAt?: number;
}

/**
 * The open connections of one stream on this replica, by subscriber key: takes over
 * authenticated transports, hands each stored event to its subscriber's connections, and ends
 * them at shutdown. What one connection sends is its own business (connection.ts); liveness is
 * the heartbeat's (heartbeat.ts).
 */
export function createHub<E>(options: HubOptions<E>) {
  const { read, logger, instruments } = options;
  const byKey = new Map<string, Set<Connection<E>>>();
  const perUser = new Map<string, number>();
  let maxBufferedBytesSeen = 0;
  let stopped = false;

  const { sent, disconnects: closed } = instruments;
  instruments.connections(() => stats().connections);

  const heartbeat = createHeartbeat<Connection<E>>({
    periodMs: options.heartbeatMs,
    onDead: (connection) => connection.terminate('heartbeat_timeout'),
  });

  const context = {
    read,
    replayPageSize: options.replayPageSize,
    maxBufferedBytes: options.maxBufferedBytes,
    slowCloseGraceMs: options.slowCloseGraceMs,
    onSent(type: string, buffered: number) {
      if (buffered > maxBufferedBytesSeen) maxBufferedBytesSeen = buffered;
      sent.inc({ type });
    },
    onEnded(connection: Connection<E>, reason: string) {
      heartbeat.remove(connection);
      const set = byKey.get(connection.key);
      set?.delete(connection);
      if (set?.size === 0) byKey.delete(connection.key);
      const held = (perUser.get(connection.userId) ?? 1) - 1;
      if (held > 0) perUser.set(connection.userId, held);
      else perUser.delete(connection.userId);
      closed.inc({ reason });
    },
  };

  const all = () => [...byKey.values()].flatMap((set) => [...set]);

  function stats(filter?: (connection: Connection<E>) => boolean): HubStats {
    const transports: Record<TransportKind, number> = { websocket: 0, sse: 0 };
    const keys = new Set<string>();
    let connections = 0;
    let bufferedBytes = 0;
    for (const connection of all()) {
      if (filter && !filter(connection)) continue;
      connections++;
      keys.add(connection.key);
      transports[connection.transport.kind]++;
      bufferedBytes += connection.bufferedAmount;
    }
    return { connections, users: keys.size, transports, bufferedBytes, maxBufferedBytesSeen };
  }

  return {
    /**
     * Takes over an authenticated transport until `expiresAt` (its token's `exp`): register
     * first, then replay, so no live event slips between.
     */
    attach(request: AttachRequest<E>) {
      const { transport, key, userId } = request;
      if (stopped) return transport.close(CloseCodes.goingAway, 'server shutting down');
      // Each connection holds a socket, timers and up to maxBufferedBytes: one user (or one
      // stolen token) does not get to open them without end.
      if ((perUser.get(userId) ?? 0) >= options.maxConnectionsPerUser) {
        closed.inc({ reason: 'too_many_connections' });
        return transport.close(
          CloseCodes.tooManyConnections,
          `at most ${options.maxConnectionsPerUser} connections per user`,
        );
      }
      const log = logger.child({ user_id: userId, transport: transport.kind });
      const connection = createConnection<E>(
        { transport, key, userId, matches: request.matches, log, expiresAt: request.expiresAt },
        context,
      );
      const set = byKey.get(key) ?? new Set<Connection<E>>();
      byKey.set(key, set);
      set.add(connection);
      perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
      heartbeat.add(connection);
      transport.onError((err) => connection.log.debug({ err }, 'live transport error'));
      transport.onClose(() => connection.ended());
      void (async () => {
        if (request.since === undefined) {
          // Live only: the position is the subscriber's current sequence.
          try {
            connection.lastSequence = (await read(key, Number.MAX_SAFE_INTEGER, 1)).latest;
          } catch (err) {
            connection.log.error({ err }, 'reading the live-stream position failed');
            return connection.close(1011, 'history unavailable; reconnect');
          }
        } else {
          connection.lastSequence = request.since;
        }
        await connection.start();
      })();
    },

    /** An event stored under `sequence`: to every open connection of its subscriber on this replica. */
    publish(key: string, sequence: number, event: E) {
      const set = byKey.get(key);
      if (!set) return;
      const item = { sequence, event, frame: frameOf<E>({ type: 'event', sequence, event }) };
      for (const connection of set) connection.offer(item);
    },

    stats,

    async stop() {
      stopped = true;
      heartbeat.stop();
      const open = all();
      for (const connection of open)
        connection.close(CloseCodes.goingAway, 'server shutting down', 'shutdown');
      // Give the goodbyes a moment, then make sure nothing keeps the server open.
      await new Promise((r) => setTimeout(r, open.length > 0 ? 100 : 0));
      for (const connection of open) connection.transport.terminate();
    },
  };
}

export type Hub<E> = ReturnType<typeof createHub<E>>;
