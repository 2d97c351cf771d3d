import { type EventOf, eventName, parseEvent, TransactionStatus } from '@taskstream/contracts';
import {
  createGroupCommit,
  createLiveHistory,
  createLiveStream,
  type Envelope,
  HttpError,
  listParam,
  liveHistoryMigrations,
  type Pool,
  type Principal,
  QueryError,
  type ServiceDeps,
} from '@taskstream/platform';
import pg from 'pg';
import { visibleTransaction, visibleWallet } from './store.js';

/** Where the payments tracker is served (ADR 0017 "Live tracker", ADR 0019). */
export const TRACKER_WS_PATH = '/ws/transactions';
export const TRACKER_SSE_PATH = '/api/transactions/stream';

/** A `transaction.*` event as stored and sent: the CloudEvent with the transaction as it now is. */
export type TransactionEvent = EventOf<'transaction.created'>;

/** Per-connection filters: an event passes when it matches every filter given. */
export interface TransactionFilter {
  transactionIds?: Set<string>;
  walletIds?: Set<string>;
  statuses?: Set<string>;
}

/**
 * The admins' stream: every transaction is also stored under this key (the nil uuid, which no
 * user id is), so an admin follows all of them with one gap-free sequence.
 */
export const ALL_TRANSACTIONS = '00000000-0000-0000-0000-000000000000';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATUSES = new Set<string>(TransactionStatus.options);
/** The lifecycle events the tracker stores and sends. */
export const TRACKED_EVENTS = [
  'transaction.created',
  'transaction.held',
  'transaction.completed',
  'transaction.failed',
  'transaction.reversed',
] as const;
const TRACKED = new Set<string>(TRACKED_EVENTS);

/**
 * Where a replica says what it stored: `{ keys: [[key, sequence], ...], event }`. Events are
 * consumed once per consumer group, so each payments replica listens and hands what another one
 * stored to its own connections (a sequence they already passed is ignored). NOTIFY's payload
 * ends at 8000 bytes: a larger event is not announced, and its subscribers' connections fill the
 * gap from the history at their next event (the hub reads what it missed, in order).
 */
export const TRACKER_CHANNEL = 'payments_tracker';
const NOTIFY_LIMIT = 7900;

export const trackerHistory = createLiveHistory<TransactionEvent>('tracker');
export const trackerMigrations = liveHistoryMigrations('tracker');

function uuids(params: URLSearchParams, name: string): Set<string> | undefined {
  const ids = listParam(params, name);
  for (const id of ids ?? []) if (!UUID.test(id)) throw new QueryError(`${name}: a uuid, not ${id}`);
  return ids;
}

/** `transaction_id`, `wallet_id`, `status` (comma lists or repeated) of a tracker URL. */
export function parseTransactionFilter(params: URLSearchParams): TransactionFilter {
  const filter: TransactionFilter = {};
  const transactionIds = uuids(params, 'transaction_id');
  const walletIds = uuids(params, 'wallet_id');
  const statuses = listParam(params, 'status');
  for (const status of statuses ?? [])
    if (!STATUSES.has(status))
      throw new QueryError(`status: one of ${[...STATUSES].join(', ')}, not ${status}`);
  if (transactionIds) filter.transactionIds = transactionIds;
  if (walletIds) filter.walletIds = walletIds;
  if (statuses) filter.statuses = statuses;
  return filter;
}

export function matchesTransaction(event: TransactionEvent, filter: TransactionFilter): boolean {
  const t = event.data.transaction;
  return (
    (!filter.transactionIds || filter.transactionIds.has(t.id)) &&
    (!filter.walletIds || filter.walletIds.has(t.from_wallet_id) || filter.walletIds.has(t.to_wallet_id)) &&
    (!filter.statuses || filter.statuses.has(t.status))
  );
}

const notFound = (what: string, id: string) => new HttpError(404, 'not_found', `${what} ${id} not found`);

/**
 * Admins follow everything; a user their own key, and only with filters naming their wallets and
 * transactions touching them: anything else is the REST API's 404 (4404 on a WebSocket).
 */
async function authorizeTracker(pool: Pool, principal: Principal, filter: TransactionFilter) {
  for (const id of filter.walletIds ?? [])
    if (!(await visibleWallet(pool, principal, id))) throw notFound('wallet', id);
  for (const id of filter.transactionIds ?? [])
    if (!(await visibleTransaction(pool, principal, id))) throw notFound('transaction', id);
  return principal.role === 'admin' ? ALL_TRANSACTIONS : principal.userId;
}

export type TrackerDeps = Pick<ServiceDeps, 'pool' | 'auth' | 'logger' | 'metrics' | 'config'>;

/**
 * The payments live tracker: `createLiveStream` (ADR 0019) over the `tracker_*` history, fed by
 * payments' consumer of its own `payment-events` (ADR 0017 "Live tracker").
 */
export function createTracker({ pool, auth, logger, metrics, config }: TrackerDeps) {
  const log = logger.child({ stream: 'transactions' });
  // Every tracked event also goes to the admins' key, so one batch is in flight at a time: it takes
  // what queued meanwhile, however much (ADR 0027).
  const store = trackerHistory.createEventStore(() => pool, config.SYNC_HISTORY_SIZE, { maxBatch: 1000 });

  const stream = createLiveStream<TransactionEvent, TransactionFilter>({
    name: 'transactions',
    wsPath: TRACKER_WS_PATH,
    ssePath: TRACKER_SSE_PATH,
    read: (key, since, limit) => trackerHistory.read(pool, key, since, limit),
    parseFilter: parseTransactionFilter,
    matches: matchesTransaction,
    authorize: (principal, filter) => authorizeTracker(pool, principal, filter),
    pool,
    auth,
    logger: log,
    instruments: {
      sent: metrics.counter('tracker_messages_sent_total', 'Frames sent to tracker clients', ['type']),
      disconnects: metrics.counter('tracker_disconnects_total', 'Tracker connections ended, by reason', [
        'reason',
      ]),
      connections: (read) =>
        metrics.gauge('tracker_connections', 'Open tracker connections (WebSocket and SSE)', [], (g) =>
          g.set(read()),
        ),
    },
    maxBufferedBytes: config.SYNC_MAX_BUFFERED_BYTES,
    heartbeatMs: config.SYNC_HEARTBEAT_MS,
    slowCloseGraceMs: config.SYNC_SLOW_CLOSE_GRACE_MS,
    maxConnectionsPerUser: config.SYNC_MAX_CONNECTIONS_PER_USER,
    allowedOrigins: config.SYNC_ALLOWED_ORIGINS,
  });

  /**
   * Wallet → owner (null for system wallets). A wallet never changes owner, so what was read once
   * holds; the map is emptied when full rather than kept in order (a re-read is one query).
   */
  const owners = new Map<string, string | null>();
  const OWNERS_KEPT = 100_000;

  /** The users owning the transaction's wallets (system wallets have none), and the admins' key. */
  async function keysOf(event: TransactionEvent): Promise<string[]> {
    const t = event.data.transaction;
    const unknown = [t.from_wallet_id, t.to_wallet_id].filter((id) => !owners.has(id));
    if (unknown.length > 0) {
      const { rows } = await pool.query<{ id: string; user_id: string | null }>(
        'SELECT id, user_id FROM wallets WHERE id = ANY($1::uuid[])',
        [unknown],
      );
      if (owners.size + rows.length > OWNERS_KEPT) owners.clear();
      for (const r of rows) owners.set(r.id, r.user_id);
    }
    const users = new Set<string>();
    for (const id of [t.from_wallet_id, t.to_wallet_id]) {
      const owner = owners.get(id);
      if (owner) users.add(owner);
    }
    return [...users, ALL_TRANSACTIONS];
  }

  /** Announcements of one moment go out in one statement (NOTIFY carries them in order per batch). */
  const announce = createGroupCommit<string, void>({
    async write(payloads) {
      await pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [TRACKER_CHANNEL, payloads]);
      return payloads.map(() => undefined);
    },
  });

  /**
   * A `transaction.*` event of `payment-events`, stored under each key it concerns and handed to
   * this replica's connections; false for any other event. Payments' own consumer of the topic
   * calls it (under Dapr an app has one subscription per topic), with the transaction as order key:
   * a transaction's events come in lifecycle order (all keyed by its debited wallet), so they are
   * stored in that order under every key, and different transactions are stored side by side —
   * each key's sequence is the order its events were stored, the same on every replica.
   */
  async function track(event: Envelope): Promise<boolean> {
    const name = eventName(event.type);
    if (!name || !TRACKED.has(name)) return false;
    // A broken event throws: retried, then dead-lettered with the reason. Stored as sent.
    parseEvent(name as 'transaction.created', event);
    const tracked = event as unknown as TransactionEvent;
    const keys = await keysOf(tracked);
    const stored = await Promise.all(
      keys.map(async (key) => {
        const at = await store({ key, id: `${tracked.id}/${key}`, event: tracked });
        if (at) stream.publish(key, at.sequence, tracked);
        return at && ([key, at.sequence] as const);
      }),
    );
    const payload = JSON.stringify({ keys: stored.filter(Boolean), event: tracked });
    if (Buffer.byteLength(payload) <= NOTIFY_LIMIT) await announce(payload);
    return true;
  }

  /** This replica's LISTEN connection; reconnects a second after it is lost, until stop(). */
  let listener: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;
  async function listen() {
    if (stopped) return;
    const client = new pg.Client({
      connectionString: config.DATABASE_URL,
      application_name: 'taskstream-payments-tracker',
    });
    let lost = false;
    const reconnect = (err?: Error) => {
      if (lost || stopped) return;
      lost = true;
      log.warn({ err }, 'tracker LISTEN connection lost; reconnecting');
      listener = undefined;
      client.end().catch(() => undefined);
      retry = setTimeout(() => void listen(), 1000);
      retry.unref();
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    client.on('notification', (n) => {
      if (n.channel !== TRACKER_CHANNEL || !n.payload) return;
      try {
        const { keys, event } = JSON.parse(n.payload) as {
          keys: [string, number][];
          event: TransactionEvent;
        };
        for (const [key, sequence] of keys) stream.publish(key, sequence, event);
      } catch (err) {
        log.warn({ err }, 'unreadable tracker notification');
      }
    });
    // Held from the start, so a stop() during connect() ends this client too.
    listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${TRACKER_CHANNEL}`);
    } catch (err) {
      reconnect(err as Error);
    }
  }

  let pruneTimer: NodeJS.Timeout | undefined;
  return {
    routes: stream.routes,
    track,
    stats: stream.stats,
    async start(httpServer: Parameters<typeof stream.listen>[0]) {
      stream.listen(httpServer);
      await listen();
      const keepDays = config.EVENT_LOG_RETENTION_DAYS + 1;
      pruneTimer = setInterval(() => {
        trackerHistory
          .pruneInbox(pool, keepDays)
          .catch((err) => log.warn({ err }, 'pruning the tracker inbox failed'));
      }, config.SYNC_INBOX_PRUNE_MS);
      pruneTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(pruneTimer);
      clearTimeout(retry);
      await listener?.end().catch(() => undefined);
      await stream.stop();
    },
  };
}
