import { deliveryMetrics, runHandler } from '../../ops/delivery.js';
import type { Envelope, OutgoingMessage, Subscription, Transaction } from '../../ports.js';
import { createSleeper } from '../../sleeper.js';
import { traceIdOf } from '../../trace.js';
import type { Control } from '../control-connection.js';
import type { EmbeddedBusOptions } from '../event-bus.js';
import { commitBatch } from './checkpoint.js';
import { type LogPosition, type LogRow, readNew } from './log-reader.js';
import { processBatch } from './processor.js';
import { createRetries } from './retries.js';

/** How many order keys one consumer handles at once by default; one key is always handled in order. */
const KEY_CONCURRENCY = 64;
/** Safety net for a notification lost while the listener reconnects. */
const FALLBACK_POLL_MS = 500;
/** Committed rows waiting behind an older open transaction (which may never notify): look again soon. */
const HORIZON_POLL_MS = 10;
/** A consumer whose lock another process holds tries again this often. */
const LOCK_RETRY_MS = 2000;
const SHUTDOWN_TIMEOUT_MS = 30_000;

export type ConsumerOptions = Omit<EmbeddedBusOptions, 'connectionString'> & {
  /** The bus's publish on a given connection: dead letters go out in the transaction that records them. */
  publish(messages: OutgoingMessage[], tx: Transaction): Promise<void>;
  /** The bus's control connection: the consumer's lock lives there. */
  control: Control;
};

export type Consumer = ReturnType<typeof createConsumer>;

/**
 * One subscription's consumer: in one process at a time (a session advisory lock on the bus's
 * control connection), it pulls the next events (log-reader), runs their handlers (processor),
 * moves the checkpoint past them while the next batch is pulled (checkpoint), and works through
 * held-back keys (retries); it sleeps until a wake-up, a due retry or the next poll.
 */
export function createConsumer(sub: Subscription, options: ConsumerOptions) {
  const { pool, logger, retryDelaysMs, control } = options;
  const fallbackPollMs = options.fallbackPollMs ?? FALLBACK_POLL_MS;
  const horizonPollMs = options.horizonPollMs ?? HORIZON_POLL_MS;
  const { topic, consumer } = sub;
  const log = logger.child({ consumer, topic });
  const lockKey = `taskstream_consumer|${consumer}|${topic}`;
  const counters = deliveryMetrics(options.metrics);
  const sleeper = createSleeper();

  let stopped = false;
  let wakeRequested = true;
  let loop: Promise<void> | undefined;
  /** Keys whose events wait in consumer_retries (there stored under the same order key). */
  const blockedKeys = new Set<string>();
  /**
   * Where this process has handled up to; undefined until read from the checkpoint (at start,
   * after the lock was taken again, after a failed commit).
   */
  let position: LogPosition | undefined;
  /** The last batch's checkpoint commit, while it runs; the next batch is fetched meanwhile. */
  let committing: Promise<void> | undefined;
  let commitError: unknown;
  /** Events with the same order key run one after another, in log order; the partition key unless the subscription says. */
  const orderKeyOf = (row: LogRow) => sub.orderKey?.(row.event) ?? row.partition_key;

  /** Runs the handler once (in a consumer span); returns the error text, or undefined when the event is done with. */
  function attempt(event: Envelope, attemptNo: number): Promise<string | undefined> {
    return runHandler(sub, event, { topic, consumer, attempt: attemptNo }, logger, counters);
  }

  const retries = createRetries({
    pool,
    consumer,
    topic,
    deadLetterTopic: sub.deadLetterTopic ?? `${topic}.dlq`,
    retryDelaysMs,
    blockedKeys,
    stopped: () => stopped,
    attempt,
    publish: options.publish,
    counters,
    log,
  });

  /**
   * Handles the next batch of new events. Returns whether more may be waiting right away, and
   * whether committed events wait behind an older open transaction.
   */
  async function handleNew(): Promise<{ more: boolean; hidden: boolean }> {
    if (commitError !== undefined) {
      // Read from the stored checkpoint again: what was handled since is delivered again.
      const err = commitError;
      commitError = undefined;
      position = undefined;
      throw err;
    }
    const { rows, last, more, hidden } = await readNew(pool, consumer, topic, position, sub.types);
    if (!last) return { more: false, hidden };
    const parked =
      rows.length === 0
        ? []
        : await processBatch(rows, {
            orderKeyOf,
            blockedKeys,
            concurrency: sub.concurrency ?? options.keyConcurrency ?? KEY_CONCURRENCY,
            stopped: () => stopped,
            attempt,
          });

    const previous = committing;
    const commit = async () => {
      await previous; // checkpoints move forward in order
      await commitBatch(
        pool,
        { consumer, topic, firstRetryDelayMs: retryDelaysMs[0] ?? 0, orderKeyOf },
        last,
        parked,
      );
    };
    if (parked.length > 0) {
      // handleRetries reads the parked rows next: they must be in first.
      committing = undefined;
      await commit();
    } else {
      // The checkpoint's commit waits for its WAL flush (which also makes the handlers'
      // asynchronous commits durable); the next batch need not wait for it too.
      const current = commit().catch((err) => {
        commitError ??= err;
      });
      committing = current;
      void current.finally(() => {
        if (committing === current) committing = undefined;
      });
    }
    position = { tx: last.tx, id: last.id };
    for (const p of parked) {
      if (p.error === undefined) continue;
      if (retryDelaysMs.length === 0) continue; // dead-lettered right away by handleRetries
      counters.retried?.inc({ topic, consumer });
      log.warn(
        {
          event_id: p.row.event.id,
          trace_id: traceIdOf(p.row.event.traceparent),
          attempt: 1,
          error: p.error,
          retry_in_ms: retryDelaysMs[0],
        },
        'handler failed; will retry',
      );
    }
    return { more, hidden };
  }

  async function run() {
    while (!stopped) {
      // One instance per consumer and topic across processes: a session advisory lock on the
      // bus's own connection (taken again after that connection was lost).
      if (!control.holds(lockKey)) {
        // Another process may have held the lock meanwhile: start from the stored checkpoint.
        position = undefined;
        if (!(await control.tryLock(lockKey))) {
          if (!stopped) await sleeper.sleep(LOCK_RETRY_MS);
          continue;
        }
      }
      let waitMs = fallbackPollMs;
      try {
        wakeRequested = false;
        const { more, hidden } = await handleNew();
        const retryIn = await retries.handleRetries();
        if (more) continue;
        if (hidden) waitMs = Math.min(waitMs, horizonPollMs);
        if (retryIn !== undefined) waitMs = Math.min(waitMs, Math.max(5, retryIn));
      } catch (err) {
        if (stopped) break;
        log.error({ err }, 'consumer loop error; backing off');
        waitMs = 1000;
      }
      if (stopped || wakeRequested) continue;
      await sleeper.sleep(waitMs);
    }
    await committing; // the last checkpoint is in before stop() lets go of the lock
  }

  return {
    topic,
    wake() {
      wakeRequested = true;
      sleeper.wake();
    },
    async start() {
      await pool.query(
        'INSERT INTO consumer_checkpoints (consumer, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [consumer, topic],
      );
      const { rows } = await pool.query(
        'SELECT DISTINCT partition_key FROM consumer_retries WHERE consumer = $1 AND topic = $2',
        [consumer, topic],
      );
      for (const r of rows) blockedKeys.add(r.partition_key);
      loop = run().catch((err) => log.error({ err }, 'consumer stopped on error'));
    },
    /** Stops taking events; the ones in hand finish (events not yet begun wait for the next start). */
    async stop() {
      stopped = true;
      sleeper.wake();
      const timeoutMs = options.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        loop ? loop.then(() => true) : Promise.resolve(true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!finished)
        log.warn(
          { timeout_ms: timeoutMs },
          'handlers still running at shutdown; their events will be delivered again',
        );
      await control.unlock(lockKey);
    },
  };
}
