import type { Migration, Pool } from '../db.js';
import { createGroupCommit } from '../group-commit.js';
import type { HistoryPage } from './replay.js';

/**
 * A live stream's history in PostgreSQL (ADR 0007, 0019): per subscriber key (a uuid) a sequence
 * bumped by every event stored, an inbox that stores an id once whoever comes first, and the
 * bounded window of recent events that connections replay from. Tables `<prefix>_sequences`,
 * `<prefix>_inbox`, `<prefix>_history`; sync's are `sync_*`, a second stream brings its own
 * with `liveHistoryMigrations(prefix)`.
 */
export function liveHistoryMigrations(prefix: string): Migration[] {
  const p = checkedPrefix(prefix);
  return [
    {
      id: `001_${p}_live_history`,
      sql: `
        CREATE TABLE ${p}_sequences (
          user_id uuid PRIMARY KEY,
          last_sequence bigint NOT NULL
        ) WITH (fillfactor = 50);
        CREATE TABLE ${p}_inbox (
          event_id text PRIMARY KEY,
          user_id uuid NOT NULL,
          sequence bigint NOT NULL,
          received_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ${p}_inbox_received_at ON ${p}_inbox (received_at);
        CREATE TABLE ${p}_history (
          user_id uuid NOT NULL,
          sequence bigint NOT NULL,
          event_id text NOT NULL,
          event json NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (user_id, sequence)
        );
      `,
    },
  ];
}

/** Table names are spliced into SQL: only a plain identifier. */
function checkedPrefix(prefix: string): string {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`live history: bad table prefix ${prefix}`);
  return prefix;
}

/**
 * One event to store under a subscriber key. `id` is what the inbox dedupes: the event id when an
 * event has one subscriber (sync: its user), `<event id>/<key>` when one event goes to several.
 */
export interface HistoryItem<E> {
  key: string;
  id: string;
  event: E;
}

export interface StoredEvent {
  sequence: number;
  /** False when the event was already stored (redelivery, or another replica was first). */
  created: boolean;
}

const UNIQUE_VIOLATION = '23505';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Serialization failures and deadlocks: the statement rolled back whole; run it again. */
const RETRYABLE = new Set([UNIQUE_VIOLATION, '40P01', '40001']);

/** The store and the reads of one stream's history tables. */
export function createLiveHistory<E>(tablePrefix: string) {
  const prefix = checkedPrefix(tablePrefix);

  /**
   * Stores events, each under its user's next sequence, in one statement (one transaction, one
   * round trip): the sequence bumps, the inbox rows, the history rows and the trimming of each
   * window. Several events of one user take consecutive sequences in the order given. An event id
   * seen before returns the sequence it got then and changes nothing. Users are bumped in id
   * order, so two replicas storing overlapping batches lock the counters in the same order.
   *
   * Two replicas storing the same event at once: the second waits on the user's counter row,
   * then its inbox insert violates the key, the whole statement (bumps included) rolls back, and
   * the retry finds the first one's rows.
   */
  async function storeEvents(
    pool: Pool,
    items: HistoryItem<E>[],
    historySize: number,
  ): Promise<Map<string, StoredEvent>> {
    if (new Set(items.map((i) => i.id)).size !== items.length)
      throw new Error('storeEvents: an event id once per call');
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await pool.query<{ event_id: string; sequence: number; created: boolean }>({
          // Named: planned once per connection, not for every batch.
          name: `${prefix}_store_events`,
          // The events travel as one JSON array, their ids and users as arrays beside it: one
          // serialization, one pass over the text, and the server never looks inside an event.
          text: `WITH input AS (
           SELECT event_id, user_id, event, ord
           FROM ROWS FROM (unnest($1::text[]), unnest($2::uuid[]), json_array_elements($3::json))
             WITH ORDINALITY AS x(event_id, user_id, event, ord)
         ), existing AS (
           -- LATERAL + LIMIT/OFFSET (not flattened): one index probe per event or user, whatever the
           -- planner guesses about the batch size; a hash join would read the whole table.
           SELECT i.event_id, x.sequence FROM input i
           CROSS JOIN LATERAL (SELECT sequence FROM ${prefix}_inbox WHERE event_id = i.event_id LIMIT 1) x
         ), counted AS (
           SELECT user_id, count(*) AS n FROM input WHERE event_id NOT IN (SELECT event_id FROM existing)
           GROUP BY user_id
         ), bumped AS (
           INSERT INTO ${prefix}_sequences AS s (user_id, last_sequence)
           SELECT user_id, n FROM counted ORDER BY user_id
           ON CONFLICT (user_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
           RETURNING user_id, last_sequence
         ), fresh AS (
           -- A user's events of this batch end at its new last sequence, in the order given.
           SELECT i.event_id, i.user_id, i.event,
                  b.last_sequence - c.n + row_number() OVER (PARTITION BY i.user_id ORDER BY i.ord) AS last_sequence
           FROM input i JOIN counted c USING (user_id) JOIN bumped b USING (user_id)
           WHERE i.event_id NOT IN (SELECT event_id FROM existing)
         ), inbox AS (
           INSERT INTO ${prefix}_inbox (event_id, user_id, sequence) SELECT event_id, user_id, last_sequence FROM fresh
         ), history AS (
           INSERT INTO ${prefix}_history (user_id, sequence, event_id, event) SELECT user_id, last_sequence, event_id, event FROM fresh
         ), trimmed AS (
           DELETE FROM ${prefix}_history WHERE ctid = ANY (ARRAY(
             SELECT d.ctid FROM bumped b CROSS JOIN LATERAL (
               SELECT ctid FROM ${prefix}_history WHERE user_id = b.user_id AND sequence <= b.last_sequence - $4::bigint OFFSET 0) d))
         )
         SELECT event_id, last_sequence AS sequence, true AS created FROM fresh
         UNION ALL
         SELECT event_id, sequence, false FROM existing`,
          values: [
            items.map((i) => i.id),
            items.map((i) => i.key),
            JSON.stringify(items.map((i) => i.event)),
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
   * at once) into `storeEvents` calls of up to `maxBatch` events (group commit). A user with an
   * event in flight waits for that statement: each user's events are stored in the order they
   * arrived, several of them in one batch when they queued together (a key every event goes to,
   * like the payments tracker's admins' key, is one statement per batch, not one per event).
   */
  function createEventStore(
    pool: () => Pool,
    historySize: number,
    { maxBatch = 64, parallel = 4 }: { maxBatch?: number; parallel?: number } = {},
  ): (item: HistoryItem<E>) => Promise<StoredEvent | undefined> {
    return createGroupCommit<HistoryItem<E>, StoredEvent | undefined>({
      maxBatch,
      parallel,
      keyOf: (item) => item.key,
      async write(items) {
        const stored = await storeEvents(pool(), items, historySize);
        return items.map((item) => stored.get(item.id));
      },
    });
  }

  /** One consistent read: the user's position and the kept events after `since`. */
  async function readHistory(
    pool: Pool,
    userId: string,
    since: number,
    limit: number,
  ): Promise<HistoryPage<E>> {
    // Users are UUIDs; any other subject (a token from another issuer) has no history.
    if (!UUID.test(userId)) return { latest: 0, events: [] };
    const { rows } = await pool.query<{ latest: number; sequence: number | null; event: E | null }>(
      `SELECT s.last_sequence AS latest, h.sequence, h.event
     FROM ${prefix}_sequences s
     LEFT JOIN LATERAL (
       SELECT sequence, event FROM ${prefix}_history
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
  async function pruneInbox(pool: Pool, keepDays: number): Promise<number> {
    const { rowCount } = await pool.query(
      `DELETE FROM ${prefix}_inbox WHERE event_id IN (
       SELECT event_id FROM ${prefix}_inbox WHERE received_at < now() - make_interval(days => $1) LIMIT 10000)`,
      [keepDays],
    );
    return rowCount ?? 0;
  }

  return { storeEvents, createEventStore, read: readHistory, pruneInbox };
}

export type LiveHistory<E> = ReturnType<typeof createLiveHistory<E>>;
