import type { Channel } from '@taskstream/contracts';
import { type EventBus, type Pool, type PoolClient, traceIdOf, withTransaction } from '@taskstream/platform';
import { DELIVERY_JOB_PREFIX } from './jobs.js';
import { publishOutcomes } from './outcomes.js';
import type { ReminderState } from './state.js';

export type RowStatus = 'pending' | 'deferred' | 'retrying' | 'sent' | 'skipped' | 'dead' | 'cancelled';
export const SETTLED: RowStatus[] = ['sent', 'skipped', 'dead', 'cancelled'];

/** One firing's channel: its lock makes a duplicate trigger wait, then see the outcome. */
export interface ChannelRow {
  reminder_id: string;
  fire_at: Date;
  channel: Channel;
  user_id: string;
  status: RowStatus;
  attempts: number;
  next_attempt_at: Date | null;
  pending_job: string | null;
  last_error: string | null;
  detail: Record<string, unknown>;
  outcome_published: boolean;
}

/** What one attempt (or a skip) came to. */
export interface Outcome {
  status: 'sent' | 'skipped' | 'dead' | 'retrying';
  attempt: number;
  /** The error of a failed attempt, or why a channel was skipped. */
  error: string | null;
  detail: Record<string, unknown>;
  retryAt?: Date;
}

export const followUpName = (r: ReminderState, channel: Channel, at: Date) =>
  `${DELIVERY_JOB_PREFIX}${r.reminder_id}.${channel}.${at.getTime()}`;

/** Locks the channel row of this firing (creating it) and lets `work` decide inside the transaction. */
export async function withChannelRow<T>(
  pool: Pool,
  r: ReminderState,
  channel: Channel,
  work: (row: ChannelRow, client: PoolClient) => Promise<T>,
) {
  return withTransaction(pool, async (client) => {
    // Inserted, or the existing row locked and read as last committed (a duplicate waits here).
    const { rows } = await client.query<ChannelRow>(
      `INSERT INTO reminder_channels (reminder_id, fire_at, channel, user_id, task_id, sequence, task_version, status, traceparent)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)
       ON CONFLICT (reminder_id, fire_at, channel) DO UPDATE SET updated_at = reminder_channels.updated_at
       RETURNING *`,
      [
        r.reminder_id,
        r.fire_at,
        channel,
        r.user_id,
        r.task_id,
        r.sequence,
        r.task_version,
        r.traceparent ?? null,
      ],
    );
    return work(rows[0]!, client);
  });
}

/** A follow-up (retry or end of quiet hours) is already booked for later: make sure its job exists. */
export function bookedLater(row: ChannelRow, jobName: string | undefined) {
  return (
    (row.status === 'retrying' || row.status === 'deferred') &&
    row.pending_job !== null &&
    row.pending_job !== jobName &&
    row.next_attempt_at !== null &&
    row.next_attempt_at.getTime() > Date.now()
  );
}

/** Records one attempt in `deliveries` and the channel's new state, in one statement, and publishes a settled channel's outcome. */
export async function recordOutcome(
  client: PoolClient,
  bus: EventBus,
  r: ReminderState,
  channel: Channel,
  outcome: Outcome,
): Promise<ChannelRow> {
  const retrying = outcome.status === 'retrying';
  const { rows } = await client.query<ChannelRow>(
    `WITH attempt AS (
       INSERT INTO deliveries (reminder_id, fire_at, channel, user_id, attempt, status, error, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $15)
     )
     UPDATE reminder_channels SET status = $8, attempts = $5, last_error = $7, detail = $9, next_attempt_at = $10,
       pending_job = $11, task_id = $12, sequence = $13, task_version = $14, updated_at = now()
     WHERE reminder_id = $1 AND fire_at = $2 AND channel = $3 RETURNING *`,
    [
      r.reminder_id,
      r.fire_at,
      channel,
      r.user_id,
      outcome.attempt,
      retrying ? 'failed' : outcome.status,
      outcome.error,
      outcome.status,
      JSON.stringify(outcome.detail),
      retrying ? outcome.retryAt : null,
      retrying ? followUpName(r, channel, outcome.retryAt!) : null,
      r.task_id,
      r.sequence,
      r.task_version,
      traceIdOf(r.traceparent) ?? null,
    ],
  );
  const row = rows[0]!;
  // What a settled channel announces goes out if and only if this transaction commits.
  if (SETTLED.includes(row.status)) await publishOutcomes(client, bus, [row]);
  return row;
}

/** One attempt on one channel, recorded with its outcome in the same transaction. */
