import type { Task } from '@taskstream/contracts';
import { type Pool, type PoolClient, withTransaction } from '@taskstream/platform';
import { messagesFor, type TaskChange } from './task-events.js';
import { writeOutbox } from './outbox.js';

export interface MutationOutcome<R> {
  result: R;
  /** What changed; nothing is published when absent (e.g. completing a completed task). */
  change?: { kind: TaskChange; before?: Task; after: Task };
}

/** Thrown inside a mutation to roll it back and answer with `value` (e.g. an idempotent replay). */
export class Abort<R> {
  constructor(readonly value: R) {}
}

/**
 * One transaction: the user's lock, the next sequence, the change, its outbox rows.
 * The advisory lock comes before any write so that one user's transactions take their
 * transaction ids in sequence order — the relay publishes in transaction id order.
 */
export async function mutate<R>(
  pool: Pool,
  onCommitted: () => void,
  userId: string,
  traceparent: string,
  work: (client: PoolClient, time: string) => Promise<MutationOutcome<R>>,
): Promise<R> {
  let published = false;
  try {
    const result = await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [userId]);
      const time = new Date().toISOString();
      const outcome = await work(client, time);
      if (!outcome.change) return outcome.result;
      const { rows } = await client.query<{ last_sequence: number }>(
        `INSERT INTO user_sequences (user_id, last_sequence) VALUES ($1, 1)
         ON CONFLICT (user_id) DO UPDATE SET last_sequence = user_sequences.last_sequence + 1
         RETURNING last_sequence`,
        [userId],
      );
      const { kind, before, after } = outcome.change;
      await writeOutbox(client, messagesFor(kind, before, after, { sequence: rows[0]!.last_sequence, traceparent, time }));
      published = true;
      return outcome.result;
    });
    if (published) onCommitted();
    return result;
  } catch (err) {
    if (err instanceof Abort) return err.value as R;
    throw err;
  }
}
