import pg from 'pg';
import type { Logger } from '../logger.js';

/** The channel the event log's writers notify (payload: the topic) at commit. */
export const CHANNEL = 'taskstream_events';

/**
 * The bus's own connection (not from the pool): LISTEN for wake-ups, and the session advisory
 * locks that make each consumer run in one process only. Reconnects when it is lost; the locks
 * are then taken again.
 */
export function createControlConnection(
  options: { connectionString: string; logger: Logger },
  onNotify: (topic: string) => void,
  onReconnect: () => void,
) {
  const log = options.logger.child({ component: 'event-bus-listener' });
  let client: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  const held = new Set<string>();
  /** One query at a time on this connection (pg queues them, but concurrent calls are deprecated). */
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'taskstream-event-bus',
    });
    const lost = (err?: Error) => {
      if (client !== c) return;
      client = undefined;
      held.clear();
      c.end().catch(() => undefined);
      if (closed) return;
      log.warn({ err }, 'event bus listener connection lost; reconnecting');
      scheduleReconnect();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) onNotify(n.payload);
    });
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
    failures = 0;
  }

  function scheduleReconnect() {
    const delay = Math.min(10_000, 250 * 2 ** failures++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect().then(
        () => onReconnect(), // notifications sent meanwhile were lost: everyone looks once
        (err) => {
          if (closed) return;
          log.warn({ err }, 'event bus listener cannot reconnect yet');
          scheduleReconnect();
        },
      );
    }, delay);
  }

  return {
    connect,
    holds: (key: string) => client !== undefined && held.has(key),
    async tryLock(key: string): Promise<boolean> {
      const c = client;
      if (!c) return false;
      if (held.has(key)) return true;
      try {
        const { rows } = await serial(() =>
          c.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]),
        );
        if (rows[0].ok && client === c) held.add(key);
        return held.has(key);
      } catch {
        return false;
      }
    },
    async unlock(key: string) {
      const c = client;
      if (!held.delete(key) || !c) return;
      await serial(() => c.query('SELECT pg_advisory_unlock(hashtext($1))', [key])).catch(() => undefined);
    },
    async close() {
      closed = true;
      clearTimeout(reconnectTimer);
      const c = client;
      client = undefined;
      held.clear();
      await c?.end().catch(() => undefined);
    },
  };
}

export type Control = ReturnType<typeof createControlConnection>;
