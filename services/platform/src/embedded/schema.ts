import type { Migration } from '../db.js';

/**
 * Tables of the embedded runtime: the event log, consumer progress, key/value state. Dead letters
 * go to `dead_letters`, which both runtimes share (ops/schema.ts, migrated right after these).
 */
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

      CREATE TABLE state_store (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        etag bigint NOT NULL,
        expires_at timestamptz
      );
      CREATE INDEX state_store_expires ON state_store (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    id: '002_state_etag_sequence',
    // ETags from one sequence: a key deleted (or expired) and written again never gets an etag
    // it had before, so an etag read before the delete cannot match the new value.
    sql: `
      CREATE SEQUENCE state_store_etag_seq;
      SELECT setval('state_store_etag_seq', coalesce((SELECT max(etag) FROM state_store), 0) + 1, false);
      ALTER TABLE state_store ALTER COLUMN etag SET DEFAULT nextval('state_store_etag_seq');
    `,
  },
  {
    id: '003_scheduled_jobs',
    // The JobScheduler's jobs as the caller named them. graphile-worker (schema graphile_worker)
    // fires them: one graphile-worker job per name (its job_key), carrying the revision it was
    // made for, so a trigger of a replaced or deleted job is recognised and ignored.
    sql: `
      CREATE SEQUENCE scheduled_jobs_revision_seq;
      CREATE TABLE scheduled_jobs (
        name text PRIMARY KEY,
        spec jsonb NOT NULL,
        revision bigint NOT NULL DEFAULT nextval('scheduled_jobs_revision_seq'),
        -- Runs left when the job was given repeats; NULL: unlimited (or a one-shot job).
        remaining int,
        next_run_at timestamptz NOT NULL,
        expires_at timestamptz,
        runs int NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: '004_scheduled_jobs_next_run',
    // The job scheduler looks up the soonest future job after every run.
    sql: 'CREATE INDEX scheduled_jobs_next_run ON scheduled_jobs (next_run_at)',
  },
  {
    id: '005_event_log_json',
    // Events are written once and read whole by every consumer; nothing queries inside them on
    // the hot path. json keeps the text as sent: no binary conversion on write, none on each
    // read (ADR 0012). The operators a diagnostic query uses (->, ->>) work on json too.
    sql: 'ALTER TABLE event_log ALTER COLUMN event TYPE json USING event::json',
  },
  {
    id: '006_retire_task_outbox',
    // Publishing in a transaction writes straight into the event log (ADR 0016); task-api no longer
    // keeps an outbox. A database from before keeps one: what its relay had not yet published goes
    // into the log, after everything it had, in the relay's order; the table goes with it. Runs
    // before task-api's migrations, which no longer create it.
    sql: `
      DO $$ BEGIN
        IF to_regclass('outbox') IS NOT NULL THEN
          INSERT INTO event_log (topic, partition_key, event_id, event)
          SELECT topic, partition_key, event->>'id', event::json FROM outbox
          WHERE published_at IS NULL ORDER BY tx, id;
          DROP TABLE outbox;
        END IF;
      END $$;
    `,
  },
];
