import { eventName, eventType, parseEvent, Topics } from '@taskstream/contracts';
import {
  childTraceparent,
  type Service,
  type ServiceDeps,
  type Subscription,
  scheduleIdempotencyPrune,
} from '@taskstream/platform';
import { Router } from 'express';
import { createLedger } from './ledger.js';
import { paymentRoutes } from './routes.js';
import { paymentsMigrations } from './schema.js';
import { createSettler } from './settle-batch.js';
import { createTracker, TRACKED_EVENTS, trackerMigrations } from './tracker.js';

export { createLedger, type Ledger } from './ledger.js';
export { canMove, TRANSITIONS } from './lifecycle.js';
export {
  compareWithLive,
  foldPaymentEvents,
  type LedgerDifference,
  type LedgerReplay,
  replayLedger,
} from './replay.js';
export { paymentsMigrations } from './schema.js';
export {
  ALL_TRANSACTIONS,
  matchesTransaction,
  parseTransactionFilter,
  TRACKER_SSE_PATH,
  TRACKER_WS_PATH,
  type TransactionEvent,
  type TransactionFilter,
  trackerMigrations,
} from './tracker.js';

/** Hourly: wallets' and transactions' Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS go. */
export const PAYMENTS_IDEMPOTENCY_PRUNE_JOB = 'payments-idempotency-key-prune';

/** The job that fails transactions held longer than PAYMENTS_HOLD_TIMEOUT_SECONDS. */
export const HOLD_EXPIRY_JOB = 'payments-hold-expiry';
export const HOLD_EXPIRY_SCHEDULE = '@every 1m';

/**
 * Wallets, the ledger and the payment lifecycle (ADR 0017). A transfer or withdrawal is created
 * by its request and settled (completed or failed for funds) or held when its fraud score comes
 * back on `payment-events` (ADR 0018): payments never calls fraud, fraud never calls payments.
 */
export function createPaymentsService(deps: ServiceDeps): Service {
  const { pool, config, ports, logger, metrics, auth } = deps;
  const log = logger.child({ service: 'payments' });
  const ledger = createLedger(pool, ports.bus);
  const settle = createSettler(pool, ports.bus);
  // The live tracker (WS /ws/transactions, SSE /api/transactions/stream): ADR 0017 "Live tracker".
  const tracker = createTracker({ pool, auth, logger: log, metrics, config });
  const decided = metrics.counter('payments_fraud_decisions_total', 'Fraud scores acted on', ['outcome']);

  const scores: Subscription = {
    topic: Topics.paymentEvents,
    consumer: 'payments',
    // Each transaction on its own: the ledger locks what it changes, and a transaction's
    // `transaction.*` events reach the tracker's history in lifecycle order.
    orderKey: (event) => event.subject,
    // Every transaction of a fetched batch at once: their tracker stores and settlements gather
    // into group commits (ADR 0027), which 64 at a time kept small.
    concurrency: Number.POSITIVE_INFINITY,
    // The tracker's events and the scores: balance.updated and withdrawal.requested pass by.
    types: [...TRACKED_EVENTS, 'fraud.score.updated' as const].map(eventType),
    async handler(event, ctx) {
      if (await tracker.track(event)) return 'SUCCESS';
      if (eventName(event.type) !== 'fraud.score.updated') return 'DROP';
      // A score that breaks its contract throws: retried, then dead-lettered with the reason.
      const { transaction_id, decision, score } = parseEvent('fraud.score.updated', event).data;
      // Only a created transaction is decided by its score: a repeated delivery, or the score of
      // a deposit (completed when made), changes nothing.
      // Scores handled at once are settled together (group commit, ADR 0027).
      const { moved, transaction } = await settle({
        id: transaction_id,
        to: decision === 'hold' ? 'held' : 'settle',
        fraudScore: score,
        traceparent: ctx.traceparent ?? childTraceparent(event.traceparent),
      });
      decided.inc({ outcome: moved ? transaction.status : 'already_decided' });
      return 'SUCCESS';
    },
  };

  ports.jobs.onTrigger(HOLD_EXPIRY_JOB, async () => {
    const expired = await ledger.expireHolds(config.PAYMENTS_HOLD_TIMEOUT_SECONDS, childTraceparent());
    if (expired > 0) log.info({ expired }, 'held transactions failed after the hold timeout');
  });

  const keys = scheduleIdempotencyPrune(deps, {
    table: 'payment_idempotency_keys',
    job: PAYMENTS_IDEMPOTENCY_PRUNE_JOB,
  });

  const routes = Router();
  routes.use(tracker.routes);
  routes.use(paymentRoutes({ pool, auth, ledger }));

  return {
    name: 'payments',
    routes,
    subscriptions: [scores],
    migrations: [...paymentsMigrations, ...trackerMigrations],
    async start(server) {
      await tracker.start(server);
      await ports.jobs.schedule({ name: HOLD_EXPIRY_JOB, schedule: HOLD_EXPIRY_SCHEDULE });
      await keys.start();
    },
    async stop() {
      await tracker.stop();
    },
  };
}
