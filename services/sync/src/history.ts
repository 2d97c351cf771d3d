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
      );
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
];

export interface StoredEvent {
  sequence: number;
  /** False when the event was already stored (redelivery, or another replica was first). */
  created: boolean;
}

const UNIQUE_VIOLATION = '23505';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Stores an event under the user's next sequence, in one statement (one transaction): the
 * sequence bump, the inbox row, the history row and the trimming of the window. An event id
 * seen before returns the sequence it got then and changes nothing.
 *
 * Two replicas storing the same event at once: the second waits on the user's sequence row,
 * then its inbox insert violates the key, the whole statement rolls back (its bump too), and
 * the retry finds the first one's row.
 */
export async function storeEvent(pool: Pool, event: SyncedEvent, historySize: number): Promise<StoredEvent | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ sequence: number | null; created: boolean }>(
        `WITH existing AS (
           SELECT sequence FROM sync_inbox WHERE event_id = $1
         ), bumped AS (
           INSERT INTO sync_sequences AS s (user_id, last_sequence)
           SELECT $2::uuid, 1 WHERE NOT EXISTS (SELECT 1 FROM existing)
           ON CONFLICT (user_id) DO UPDATE SET last_sequence = s.last_sequence + 1
           RETURNING last_sequence
         ), inbox AS (
           INSERT INTO sync_inbox (event_id, user_id, sequence) SELECT $1, $2::uuid, last_sequence FROM bumped
         ), history AS (
           INSERT INTO sync_history (user_id, sequence, event_id, event) SELECT $2::uuid, last_sequence, $1, $3::jsonb FROM bumped
         ), trimmed AS (
           DELETE FROM sync_history h USING bumped
           WHERE h.user_id = $2::uuid AND h.sequence <= bumped.last_sequence - $4::bigint
         )
         SELECT coalesce((SELECT last_sequence FROM bumped), (SELECT sequence FROM existing)) AS sequence,
                EXISTS (SELECT 1 FROM bumped) AS created`,
        [event.id, event.data.user_id, JSON.stringify(event), historySize],
      );
      const row = rows[0];
      return row?.sequence == null ? undefined : { sequence: row.sequence, created: row.created };
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION && attempt < 3) continue;
      throw err;
    }
  }
}

export interface HistoryPage {
  /** The user's current sequence (0 when nothing was ever stored). */
  latest: number;
  /** Events after `since`, in order (at most `limit`). */
  events: { sequence: number; event: SyncedEvent }[];
}

/** One consistent read: the user's position and the kept events after `since`. */
export async function readHistory(pool: Pool, userId: string, since: number, limit: number): Promise<HistoryPage> {
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
  const events = rows.filter((r) => r.sequence != null).map((r) => ({ sequence: r.sequence!, event: r.event! }));
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
