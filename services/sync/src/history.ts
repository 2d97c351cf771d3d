import { createLiveHistory, type HistoryItem, type Migration, type Pool } from '@taskstream/platform';
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

const history = createLiveHistory<SyncedEvent>('sync');

/** A task-updates event has one subscriber: its user. */
const itemOf = (event: SyncedEvent): HistoryItem<SyncedEvent> => ({
  key: event.data.user_id,
  id: event.id,
  event,
});

/**
 * Stores events of distinct users, each under its user's next sequence, in one statement
 * (platform's live history, ADR 0007): an event id seen before returns the sequence it got then.
 */
export const storeEvents = (pool: Pool, events: SyncedEvent[], historySize: number) =>
  history.storeEvents(pool, events.map(itemOf), historySize);

/** Gathers the events handlers store at the same moment into batched statements (see platform). */
export function createEventStore(
  pool: () => Pool,
  historySize: number,
  options?: { maxBatch?: number; parallel?: number },
) {
  const store = history.createEventStore(pool, historySize, options);
  return (event: SyncedEvent) => store(itemOf(event));
}

export const readHistory = history.read;
export const pruneInbox = history.pruneInbox;
