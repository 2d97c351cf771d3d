import { type Pool, withTransaction } from '../../db.js';
import type { Logger } from '../../logger.js';
import type { DeliveryMetrics } from '../../ops/delivery.js';
import type { Envelope, OutgoingMessage, Transaction } from '../../ports.js';
import { traceIdOf } from '../../trace.js';

export interface RetriesOptions {
  pool: Pool;
  consumer: string;
  topic: string;
  deadLetterTopic: string;
  retryDelaysMs: number[];
  /** Order keys whose events wait in consumer_retries; a key leaves when it has none left. */
  blockedKeys: Set<string>;
  stopped(): boolean;
  attempt(event: Envelope, attemptNo: number): Promise<string | undefined>;
  /** The bus's own publish, in the dead-lettering transaction. */
  publish(messages: OutgoingMessage[], tx: Transaction): Promise<void>;
  counters: DeliveryMetrics;
  log: Logger;
}

/**
 * The retries: works through the held-back keys, each key's parked events in log order. A due
 * event is tried again; failing, it waits the next delay, or after the last one goes to the
 * dead-letter topic and `dead_letters` (one transaction), letting its key go on.
 */
export function createRetries(options: RetriesOptions) {
  const { pool, consumer, topic, deadLetterTopic, retryDelaysMs, blockedKeys, counters, log } = options;
  const { attempt } = options;

  /** Works through held-back keys; returns ms until the next retry is due (or undefined). */
  async function handleRetries(): Promise<number | undefined> {
    if (blockedKeys.size === 0) return undefined;
    let soonest: number | undefined;
    for (const key of [...blockedKeys]) {
      if (options.stopped()) break;
      while (!options.stopped()) {
        const { rows } = await pool.query(
          `SELECT r.event_log_id, r.attempts, r.last_error, r.first_failed_at, e.partition_key,
             (extract(epoch FROM (coalesce(r.next_attempt_at, now()) - now())) * 1000)::float8 AS wait_ms, e.event
           FROM consumer_retries r JOIN event_log e ON e.id = r.event_log_id
           WHERE r.consumer = $1 AND r.topic = $2 AND r.partition_key = $3
           ORDER BY e.tx, e.id LIMIT 1`,
          [consumer, topic, key],
        );
        const head = rows[0];
        if (!head) {
          blockedKeys.delete(key);
          break;
        }
        if (head.wait_ms > 0) {
          soonest = Math.min(soonest ?? Number.POSITIVE_INFINITY, head.wait_ms);
          break;
        }
        // A failed event (attempts >= 1) that has used up its retries, e.g. after a restart with
        // fewer configured delays, goes to the dead-letter topic without another attempt.
        if (head.attempts > retryDelaysMs.length) {
          await deadLetter(
            head.event_log_id,
            head.event,
            head.partition_key,
            head.last_error ?? 'retries exhausted',
            head.attempts,
            head.first_failed_at,
          );
          continue;
        }
        const attemptNo = head.attempts + 1;
        const error = await attempt(head.event, attemptNo);
        if (error === undefined) {
          await pool.query(
            'DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3',
            [consumer, topic, head.event_log_id],
          );
          continue;
        }
        if (attemptNo > retryDelaysMs.length) {
          await deadLetter(
            head.event_log_id,
            head.event,
            head.partition_key,
            error,
            attemptNo,
            head.first_failed_at,
          );
          continue;
        }
        const delay = retryDelaysMs[attemptNo - 1]!;
        await pool.query(
          `UPDATE consumer_retries SET attempts = $4, last_error = $5, first_failed_at = coalesce(first_failed_at, now()),
             next_attempt_at = now() + make_interval(secs => $6::float8 / 1000)
           WHERE consumer = $1 AND topic = $2 AND event_log_id = $3`,
          [consumer, topic, head.event_log_id, attemptNo, error, delay],
        );
        counters.retried?.inc({ topic, consumer });
        log.warn(
          {
            event_id: head.event.id,
            trace_id: traceIdOf(head.event.traceparent),
            attempt: attemptNo,
            error,
            retry_in_ms: delay,
          },
          'handler failed; will retry',
        );
        soonest = Math.min(soonest ?? Number.POSITIVE_INFINITY, delay);
        break;
      }
    }
    return soonest;
  }

  async function deadLetter(
    logId: number,
    event: Envelope,
    key: string,
    reason: string,
    attempts: number,
    firstFailedAt: Date | null,
  ) {
    await withTransaction(pool, async (client) => {
      await client.query(
        `INSERT INTO dead_letters (topic, consumer, partition_key, event_id, event, reason, attempts, first_failed_at, last_failed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), now())`,
        [topic, consumer, key, event.id, JSON.stringify(event), reason, attempts, firstFailedAt],
      );
      // The same event on `<topic>.dlq`, with why it is there as CloudEvents extension attributes.
      const dead: Envelope = {
        ...event,
        deadletterreason: reason,
        deadletterconsumer: consumer,
        deadletterattempts: attempts,
      };
      await options.publish([{ topic: deadLetterTopic, partitionKey: key, event: dead }], client);
      await client.query(
        'DELETE FROM consumer_retries WHERE consumer = $1 AND topic = $2 AND event_log_id = $3',
        [consumer, topic, logId],
      );
    });
    counters.consumed?.inc({ topic, consumer, result: 'dead_lettered' });
    counters.deadLettered?.inc({ topic, consumer });
    log.error(
      {
        event_id: event.id,
        trace_id: traceIdOf(event.traceparent),
        attempts,
        reason,
        dead_letter_topic: deadLetterTopic,
      },
      'event dead-lettered',
    );
  }

  return { handleRetries };
}
