import type { Migration } from '@taskstream/platform';

/**
 * Tables of the notification service. Reminder state itself lives in the StateStore port; these
 * hold what the REST API lists and what makes a delivery happen once per reminder and channel.
 */
export const notificationMigrations: Migration[] = [
  {
    id: '001_notifications',
    sql: `
      CREATE TABLE notification_preferences (
        user_id uuid PRIMARY KEY,
        channels text[] NOT NULL,
        quiet_hours jsonb,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      -- Where to mail a user: learnt from the email claim of the user's token.
      CREATE TABLE notification_contacts (
        user_id uuid PRIMARY KEY,
        email text NOT NULL,
        name text,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      -- A browser's push endpoint belongs to the user who subscribed it last.
      CREATE TABLE push_subscriptions (
        endpoint text PRIMARY KEY,
        user_id uuid NOT NULL,
        p256dh text NOT NULL,
        auth text NOT NULL,
        expiration_time bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_success_at timestamptz
      );
      CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

      -- The in-app inbox. One row per reminder firing (reminder_id, fire_at).
      CREATE TABLE notifications (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        task_id uuid,
        reminder_id text,
        fire_at timestamptz,
        title text NOT NULL,
        body text NOT NULL,
        event_id uuid NOT NULL,
        read_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (reminder_id, fire_at)
      );
      CREATE INDEX notifications_user ON notifications (user_id, id DESC);
      CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

      -- Mail kept locally when no SMTP server is configured (the web UI shows it).
      CREATE TABLE mailbox (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        message_id text NOT NULL,
        to_address text NOT NULL,
        from_address text NOT NULL,
        subject text NOT NULL,
        text_body text NOT NULL,
        html_body text,
        raw text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX mailbox_user ON mailbox (user_id, id DESC);

      -- One row per reminder firing and channel: its lock makes a duplicate trigger wait and then
      -- see the outcome, so a channel is sent at most once per firing.
      CREATE TABLE reminder_channels (
        reminder_id text NOT NULL,
        fire_at timestamptz NOT NULL,
        channel text NOT NULL CHECK (channel IN ('email', 'push', 'in_app')),
        user_id uuid NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'deferred', 'retrying', 'sent', 'skipped', 'dead', 'cancelled')),
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        pending_job text,
        last_error text,
        detail jsonb NOT NULL DEFAULT '{}',
        outcome_published boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (reminder_id, fire_at, channel)
      );
      CREATE INDEX reminder_channels_unpublished ON reminder_channels (reminder_id) WHERE NOT outcome_published;

      -- Every delivery attempt, successful or not.
      CREATE TABLE deliveries (
        id bigserial PRIMARY KEY,
        reminder_id text NOT NULL,
        fire_at timestamptz NOT NULL,
        channel text NOT NULL,
        user_id uuid NOT NULL,
        attempt int NOT NULL,
        status text NOT NULL CHECK (status IN ('sent', 'failed', 'dead', 'skipped')),
        error text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX deliveries_reminder ON deliveries (reminder_id, fire_at, channel, attempt);
      CREATE INDEX deliveries_created ON deliveries (created_at);

      CREATE TABLE notification_settings (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: '002_reminder_channels_event_fields',
    sql: `
      -- What the outcome events of a firing carry, so that they are published from this table alone.
      ALTER TABLE reminder_channels ADD COLUMN task_id uuid, ADD COLUMN sequence bigint, ADD COLUMN task_version int;
      DROP INDEX reminder_channels_unpublished;
      CREATE INDEX reminder_channels_unpublished ON reminder_channels (updated_at) WHERE NOT outcome_published;
    `,
  },
  {
    id: '003_delivery_trace',
    sql: `
      -- The trace of the task mutation that planned a reminder, on its firing and every attempt.
      ALTER TABLE reminder_channels ADD COLUMN traceparent text;
      ALTER TABLE deliveries ADD COLUMN trace_id text;
    `,
  },
];
