import type { Migration } from '@taskstream/platform';

/**
 * `audit_logs` is partitioned by month of the event's time (UTC), one partition per month named
 * `audit_logs_yYYYYmMM`; partitions are created on demand and dropped whole by retention.
 * Unique keys of a partitioned table must contain the partition key, hence `(event_id, time)`:
 * a redelivered event carries the same id and time, so it finds its row again.
 *
 * `id` is the row's position in the one hash chain (gap-free, assigned under the chain head's
 * row lock); `audit_chain_head` holds the newest position and hash. `audit_chain_pruned` keeps
 * the hash of each dropped row whose successor was not dropped with it, so that a surviving
 * row whose predecessor went with an expired partition can still be checked.
 */
/**
 * The actors' emails told by rows already recorded (the rule of `identityOf` in ingest.ts): the
 * newest successful login or self-registration per actor; a newer one already known is kept.
 */
export const BACKFILL_ACTORS = `
  INSERT INTO audit_actors (user_id, email, seen_at)
  SELECT DISTINCT ON (actor) actor, payload->>'email', time FROM audit_logs
  WHERE actor IS NOT NULL AND payload->>'email' IS NOT NULL
    AND (action = 'auth.login_succeeded'
      OR (action = 'auth.registered' AND payload->>'by' = 'self' AND payload->>'outcome' = 'created'))
  ORDER BY actor, time DESC
  ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, seen_at = excluded.seen_at
  WHERE audit_actors.seen_at < excluded.seen_at;
`;

export const auditMigrations: Migration[] = [
  {
    id: '001_audit_logs',
    sql: `
      CREATE TABLE audit_logs (
        id bigint NOT NULL,
        event_id uuid NOT NULL,
        time timestamptz NOT NULL,
        actor uuid NOT NULL,
        action text NOT NULL,
        task_id uuid NOT NULL,
        changes jsonb NOT NULL,
        trace_id text,
        source text NOT NULL,
        payload jsonb NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        search tsvector GENERATED ALWAYS AS (
          to_tsvector('simple'::regconfig,
            replace(action, '.', ' ') || ' ' || coalesce(payload #>> '{task,title}', '') || ' ' || coalesce(payload #>> '{task,description}', '')
            || ' ' || coalesce(payload #>> '{task,tags}', ''))
          || jsonb_to_tsvector('simple'::regconfig, changes, '["string"]')
        ) STORED,
        PRIMARY KEY (id, time),
        UNIQUE (event_id, time)
      ) PARTITION BY RANGE (time);

      CREATE INDEX audit_logs_actor_time ON audit_logs (actor, time DESC, id DESC);
      CREATE INDEX audit_logs_time ON audit_logs (time DESC, id DESC);
      CREATE INDEX audit_logs_task_time ON audit_logs (task_id, time DESC, id DESC);
      CREATE INDEX audit_logs_search ON audit_logs USING gin (search);

      CREATE TABLE audit_chain_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_id bigint NOT NULL DEFAULT 0,
        last_hash text NOT NULL DEFAULT repeat('0', 64)
      );
      INSERT INTO audit_chain_head DEFAULT VALUES;

      CREATE TABLE audit_chain_pruned (
        id bigint PRIMARY KEY,
        hash text NOT NULL,
        partition text NOT NULL,
        pruned_at timestamptz NOT NULL DEFAULT now()
      );

      -- The partition for the month (UTC) of \`at\`; concurrent callers wait on one lock, and
      -- whoever comes second finds the table there.
      CREATE FUNCTION audit_ensure_partition(at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        month timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
        name text := 'audit_logs_' || to_char(month, '"y"YYYY"m"MM');
      BEGIN
        IF to_regclass(name) IS NULL THEN
          PERFORM pg_advisory_xact_lock(hashtext('audit_logs_partitions'));
          IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_logs FOR VALUES FROM (%L) TO (%L)',
              name, month AT TIME ZONE 'UTC', (month + interval '1 month') AT TIME ZONE 'UTC');
          END IF;
        END IF;
        RETURN name;
      END $$;

      SELECT audit_ensure_partition(now());
      SELECT audit_ensure_partition(now() + interval '1 month');
    `,
  },
  {
    // Security events (ADR 0015) have no task, and a failed login of an unknown email no actor.
    id: '002_security_events',
    sql: `
      ALTER TABLE audit_logs ALTER COLUMN actor DROP NOT NULL, ALTER COLUMN task_id DROP NOT NULL;
    `,
  },
  {
    // Who an actor id is (ADR 0025): the email of the newest login or self-registration the trail
    // recorded, kept apart from the partitions so that it outlives their retention. Filled from
    // the rows already recorded; an account seen by neither shows by id until its next login.
    id: '003_audit_actors',
    sql: `
      CREATE TABLE audit_actors (
        user_id uuid PRIMARY KEY,
        email text NOT NULL,
        seen_at timestamptz NOT NULL
      );
      CREATE INDEX audit_actors_email ON audit_actors (lower(email));
      ${BACKFILL_ACTORS}
    `,
  },
];
