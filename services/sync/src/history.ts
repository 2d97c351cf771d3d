import type { Migration, Pool } from '@taskstream/platform';
import type { SyncedEvent } from './protocol.js';

export const syncMigrations: Migration[] = [
  {
    id: '001_sync_history',
    sql: `
      -- The user's sync sequence: one more for every event stored, in the storing statement.
      CREATE TABLE sync_sequences (
        user_id uuid PRIMARY KEY,
        last_sequence bigint NOT NULL
      ) WITH (fillfactor = 50); -- room for in-page (HOT) updates: one per stored event
      -- Inbox: an event id is stored once, whichever replica (or redelivery) comes first; the
      -- sequence it got is kept so that every replica fans it out under the same number.
      CREATE TABLE sync_inbox (
        event_id text PRIMARY KEY,
        user_id uuid NOT NULL,
        sequence bigint NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX sync_inbox_received_at ON sync_inbox (received_at);
      -- The bounded window of each user's recent events (SYNC_HISTORY_SIZE per user).
      CREATE TABLE sync_history (
        user_id uuid NOT NULL,
        sequence bigint NOT NULL,
        event_id text NOT NULL,
        event jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, sequence)
      );
    `,
  },
  {
    id: '002_sync_history_json',
    // Stored once, read whole: json keeps the event's text, with no binary conversion either way.
    sql: 'ALTER TABLE sync_history ALTER COLUMN event TYPE json USING event::json',
  },
];

export interface StoredEvent {
  sequence: number;
  /** False when the event was already stored (redelivery, or another replica was first). */
  created: boolean;
}

const UNIQUE_VIOLATION = '23505';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Serialization failures and deadlocks: the statement rolled back whole; run it again. */
const RETRYABLE = new Set([UNIQUE_VIOLATION, '40P01', '40001']);

/**
 * Stores events of distinct users, each under its user's next sequence, in one statement (one
 * transaction, one round trip): the sequence bumps, the inbox rows, the history rows and the
 * trimming of each window. An event id seen before returns the sequence it got then and changes
 * nothing. Users are bumped in id order, so two replicas storing overlapping batches lock the
 * counters in the same order.
 *
 * Two replicas storing the same event at once: the second waits on the user's counter row,
 * then its inbox insert violates the key, the whole statement (bumps included) rolls back, and
 * the retry finds the first one's rows.
 */
export async function storeEvents(
  pool: Pool,
  events: SyncedEvent[],
  historySize: number,
): Promise<Map<string, StoredEvent>> {
  if (new Set(events.map((e) => e.data.user_id)).size !== events.length)
    throw new Error('storeEvents: one event per user per call');
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ event_id: string; sequence: number; created: boolean }>({
        // Named: planned once per connection, not for every batch.
        name: 'sync_store_events',
        // The events travel as one JSON array, their ids and users as arrays beside it: one
        // serialization, one pass over the text, and the server never looks inside an event.
        text: `WITH input AS (
           SELECT event_id, user_id, event
           FROM ROWS FROM (unnest($1::text[]), unnest($2::uuid[]), json_array_elements($3::json))
             AS x(event_id, user_id, event)
         ), existing AS (
           -- LATERAL + LIMIT/OFFSET (not flattened): one index probe per event or user, whatever the
           -- planner guesses about the batch size; a hash join would read the whole table.
           SELECT i.event_id, x.sequence FROM input i
           CROSS JOIN LATERAL (SELECT sequence FROM sync_inbox WHERE event_id = i.event_id LIMIT 1) x
         ), bumped AS (
           INSERT INTO sync_sequences AS s (user_id, last_sequence)
           SELECT user_id, 1 FROM input WHERE event_id NOT IN (SELECT event_id FROM existing) ORDER BY user_id
           ON CONFLICT (user_id) DO UPDATE SET last_sequence = s.last_sequence + 1
           RETURNING user_id, last_sequence
         ), fresh AS (
           SELECT i.event_id, i.user_id, i.event, b.last_sequence FROM input i JOIN bumped b USING (user_id)
         ), inbox AS (
           INSERT INTO sync_inbox (event_id, user_id, sequence) SELECT event_id, user_id, last_sequence FROM fresh
         ), history AS (
           INSERT INTO sync_history (user_id, sequence, event_id, event) SELECT user_id, last_sequence, event_id, event FROM fresh
         ), trimmed AS (
           DELETE FROM sync_history WHERE ctid = ANY (ARRAY(
             SELECT d.ctid FROM bumped b CROSS JOIN LATERAL (
               SELECT ctid FROM sync_history WHERE user_id = b.user_id AND sequence <= b.last_sequence - $4::bigint OFFSET 0) d))
         )
         SELECT event_id, last_sequence AS sequence, true AS created FROM fresh
         UNION ALL
         SELECT event_id, sequence, false FROM existing`,
        values: [
          events.map((e) => e.id),
          events.map((e) => e.data.user_id),
          JSON.stringify(events),
          historySize,
        ],
      });
      return new Map(rows.map((r) => [r.event_id, { sequence: r.sequence, created: r.created }]));
    } catch (err) {
      if (RETRYABLE.has((err as { code?: string }).code ?? '') && attempt < 5) continue;
      throw err;
    }
  }
}

/**
 * Gathers the events that handlers store at the same moment (the bus runs many users' handlers
 * at once) into `storeEvents` calls of up to `maxBatch` events: one commit for many events. The
 * first batch waits one turn of the event loop, so that the handlers started together share it;
 * up to `parallel` statements run at once, and what arrives meanwhile forms the next batches.
 * Two events of one user never share a batch, and a user with an event in flight waits for it:
 * each user's events are stored in the order they arrived.
 */
export function createEventStore(
  pool: () => Pool,
  historySize: number,
  { maxBatch = 64, parallel = 4 }: { maxBatch?: number; parallel?: number } = {},
) {
  type Item = {
    event: SyncedEvent;
    resolve: (stored: StoredEvent | undefined) => void;
    reject: (err: unknown) => void;
  };
  let queue: Item[] = [];
  let inFlight = 0;
  let scheduled = false;
  /** Users with an event in a statement that has not returned yet. */
  const busy = new Set<string>();

  function takeBatch(): Item[] {
    const batch: Item[] = [];
    const later: Item[] = [];
    for (const item of queue) {
      const user = item.event.data.user_id;
      if (batch.length < maxBatch && !busy.has(user)) {
        busy.add(user);
        batch.push(item);
      } else later.push(item);
    }
    queue = later;
    return batch;
  }

  async function run(batch: Item[]) {
    inFlight++;
    try {
      const stored = await storeEvents(
        pool(),
        batch.map((item) => item.event),
        historySize,
      );
      for (const item of batch) item.resolve(stored.get(item.event.id));
    } catch (err) {
      for (const item of batch) item.reject(err);
    } finally {
      inFlight--;
      for (const item of batch) busy.delete(item.event.data.user_id);
      startBatches();
    }
  }

  function startBatches() {
    while (queue.length > 0 && inFlight < parallel) {
      const batch = takeBatch();
      if (batch.length === 0) return; // every queued user waits for a statement in flight
      void run(batch);
    }
  }

  return (event: SyncedEvent): Promise<StoredEvent | undefined> =>
    new Promise((resolve, reject) => {
      queue.push({ event, resolve, reject });
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        startBatches();
      });
    });
}

export interface HistoryPage {
  /** The user's current sequence (0 when nothing was ever stored). */
  latest: number;
  /** Events after `since`, in order (at most `limit`). */
  events: { sequence: number; event: SyncedEvent }[];
}

/** One consistent read: the user's position and the kept events after `since`. */
export async function readHistory(
  pool: Pool,
  userId: string,
  since: number,
  limit: number,
): Promise<HistoryPage> {
  // Users are UUIDs; any other subject (a token from another issuer) has no history.
  if (!UUID.test(userId)) return { latest: 0, events: [] };
  const { rows } = await pool.query<{ latest: number; sequence: number | null; event: SyncedEvent | null }>(
    `SELECT s.last_sequence AS latest, h.sequence, h.event
     FROM sync_sequences s
     LEFT JOIN LATERAL (
       SELECT sequence, event FROM sync_history
       WHERE user_id = s.user_id AND sequence > $2 ORDER BY sequence LIMIT $3
     ) h ON true
     WHERE s.user_id = $1::uuid`,
    [userId, since, limit],
  );
  const latest = rows[0]?.latest ?? 0;
  const events = rows
    .filter((r) => r.sequence != null)
    .map((r) => ({ sequence: r.sequence!, event: r.event! }));
  return { latest, events };
}

/** Drops inbox rows older than the event log keeps: no redelivery can bring those ids back. */
export async function pruneInbox(pool: Pool, keepDays: number): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM sync_inbox WHERE event_id IN (
       SELECT event_id FROM sync_inbox WHERE received_at < now() - make_interval(days => $1) LIMIT 10000)`,
    [keepDays],
  );
  return rowCount ?? 0;
}
