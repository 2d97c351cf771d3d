import type { Migration } from '../db.js';

/**
 * Operations tables, the same in both runtimes. The embedded bus writes `dead_letters` itself;
 * under Dapr, task-api's subscriptions on `<topic>.dlq` fill it. (Databases made before this
 * was the one definition got it from the embedded runtime's first migration: hence IF NOT EXISTS.)
 * `admin_actions` records who replayed or discarded what, and why.
 */
export const opsMigrations: Migration[] = [
  {
    id: '001_dead_letters_admin_actions',
    sql: `
      CREATE TABLE IF NOT EXISTS dead_letters (
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
      CREATE INDEX IF NOT EXISTS dead_letters_topic ON dead_letters (topic, status, id);
      CREATE INDEX IF NOT EXISTS dead_letters_event ON dead_letters (event_id, consumer);

      CREATE TABLE IF NOT EXISTS admin_actions (
        id bigserial PRIMARY KEY,
        actor text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        reason text,
        details jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS admin_actions_created_at ON admin_actions (created_at);
    `,
  },
];
