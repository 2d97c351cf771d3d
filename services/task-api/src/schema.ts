import type { Migration } from '@taskstream/platform';

export const taskApiMigrations: Migration[] = [
  {
    id: '001_users_tasks_outbox',
    sql: `
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('user', 'admin')),
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX users_email ON users (lower(email));

      -- The per-user mutation counter: every event of one mutation carries its value.
      CREATE TABLE user_sequences (
        user_id uuid PRIMARY KEY,
        last_sequence bigint NOT NULL
      );

      CREATE TABLE tasks (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        title text NOT NULL,
        description text NOT NULL DEFAULT '',
        status text NOT NULL CHECK (status IN ('pending', 'completed')),
        priority text NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
        priority_rank smallint GENERATED ALWAYS AS (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END) STORED,
        tags text[] NOT NULL DEFAULT '{}',
        due_date timestamptz,
        time_zone text NOT NULL,
        recurrence jsonb,
        reminders jsonb NOT NULL DEFAULT '[]',
        series_id uuid,
        occurrence integer NOT NULL DEFAULT 1,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        completed_at timestamptz,
        -- Deleted tasks stay as tombstones so a redelivered "create next occurrence" cannot revive them.
        deleted_at timestamptz
      );
      CREATE INDEX tasks_user_created ON tasks (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
      CREATE INDEX tasks_user_due ON tasks (user_id, due_date, id) WHERE deleted_at IS NULL;

      CREATE TABLE idempotency_keys (
        user_id uuid NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status integer NOT NULL,
        response jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
      );

      -- The outbox this migration created once is the platform's now (ADR 0016): the dapr bus
      -- creates it, and the embedded runtime retires it.
    `,
  },
  {
    // The login and registration limits (rate-limiter-flexible's table shape: key, points, expire
    // in epoch ms), and the index the hourly idempotency-key pruning reads (ADR 0015).
    id: '002_auth_rate_limits_idempotency_expiry',
    sql: `
      CREATE TABLE auth_rate_limits (
        key varchar(255) PRIMARY KEY,
        points integer NOT NULL DEFAULT 0,
        expire bigint
      );
      CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    `,
  },
];
