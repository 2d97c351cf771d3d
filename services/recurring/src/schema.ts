import type { Migration } from '@taskstream/platform';

/**
 * - recurring_inbox: one row per task event handled (the consumer's inbox), with what came of it.
 *   Redelivered events are recognised by their id; the deterministic id of the next task is what
 *   makes creating it effectively once, so pruning old rows is safe.
 * - recurring_occurrences: the local date-time a next task was meant for, kept only when a DST gap
 *   moved its due date (02:30 on a spring-forward night is due 03:30), which would otherwise move
 *   the rest of the series.
 */
export const recurringMigrations: Migration[] = [
  {
    id: '001_recurring',
    sql: `
      CREATE TABLE recurring_inbox (
        event_id text PRIMARY KEY,
        task_id uuid NOT NULL,
        series_id uuid,
        outcome text NOT NULL,
        next_task_id uuid,
        next_due_date timestamptz,
        processed_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX recurring_inbox_processed_at ON recurring_inbox (processed_at);
      CREATE TABLE recurring_occurrences (
        task_id uuid PRIMARY KEY,
        series_id uuid NOT NULL,
        occurrence integer NOT NULL,
        due_date timestamptz NOT NULL,
        due_local text NOT NULL,
        time_zone text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];
