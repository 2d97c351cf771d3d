import type { Task } from '@taskstream/contracts';
import type { Pool, PoolClient } from '@taskstream/platform';
import { writeOutbox } from './outbox.js';
import { messagesFor, type TaskChange } from './task-events.js';

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
  if (!UUID.test(userId)) throw new Error(`not a user id: ${userId}`);
  const client = await pool.connect();
  let published = false;
  try {
    // One round trip: the id is a checked UUID, so it can be written into the statement.
    await client.query(`BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('${userId}', 0))`);
    const time = new Date().toISOString();
    const outcome = await work(client, time);
    if (outcome.change) {
      const { kind, before, after } = outcome.change;
      // The sequence is taken and stamped on the events by the statement that writes them.
      await writeOutbox(client, userId, messagesFor(kind, before, after, { sequence: 0, traceparent, time }));
      published = true;
    }
    await client.query('COMMIT');
    if (published) onCommitted();
    return outcome.result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof Abort) return err.value as R;
    throw err;
  } finally {
    client.release();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
