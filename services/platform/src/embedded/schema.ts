import type { Migration } from '../db.js';

/** Tables of the embedded runtime: the event log, consumer progress, dead letters, key/value state. */
export const embeddedMigrations: Migration[] = [
  {
    id: '001_event_log',
    sql: `
      CREATE TABLE event_log (
        id bigserial PRIMARY KEY,
        -- The writing transaction: readers only take rows below the oldest running one, so a row
        -- that commits late is never skipped (ids are handed out before commit, out of order).
        tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
        topic text NOT NULL,
        partition_key text NOT NULL,
        event_id text NOT NULL,
        event jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX event_log_topic_position ON event_log (topic, tx, id);
      CREATE INDEX event_log_created_at ON event_log (created_at);

      CREATE TABLE consumer_checkpoints (
        consumer text NOT NULL,
        topic text NOT NULL,
        tx xid8 NOT NULL DEFAULT '0',
        last_id bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, topic)
      );

      -- Events waiting for another attempt, and the events of the same key queued behind them.
      CREATE TABLE consumer_retries (
        consumer text NOT NULL,
        topic text NOT NULL,
        event_log_id bigint NOT NULL,
        partition_key text NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_error text,
        first_failed_at timestamptz,
        PRIMARY KEY (consumer, topic, event_log_id)
      );
      CREATE INDEX consumer_retries_key ON consumer_retries (consumer, topic, partition_key, event_log_id);

      CREATE TABLE dead_letters (
        id bigserial PRIMARY KEY,
        topic text NOT NULL,
        consumer text NOT NULL,
        partition_key text NOT NULL,
        event_id text NOT NULL,
        event jsonb NOT NULL,
        reason text NOT NULL,
        attempts int NOT NULL,
        first_failed_at timestamptz NOT NULL,
        last_failed_at timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'replayed', 'discarded')),
        status_reason text,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX dead_letters_topic ON dead_letters (topic, status, id);

      CREATE TABLE state_store (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        etag bigint NOT NULL,
        expires_at timestamptz
      );
      CREATE INDEX state_store_expires ON state_store (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
];
