import { eventName, eventType, parseEvent, Topics } from '@taskstream/contracts';
import { childTraceparent, type Service, type ServiceDeps, type Subscription } from '@taskstream/platform';
import { fraudMigrations } from './schema.js';
import { createBatchScorer } from './score-batch.js';

export { fraudMigrations } from './schema.js';
export { type ScorerSettings, score, type WalletHistory } from './scorer.js';

/**
 * Fraud scoring (ADR 0018): every `transaction.created` is scored once in effect, and the score
 * goes out as `fraud.score.updated` on `payment-events`, which payments acts on. The inbox row, the
 * wallet's history, the score and the event are one transaction: a redelivered event finds its
 * inbox row and publishes nothing again. Concurrent events share that transaction (ADR 0027).
 */
export function createFraudService(deps: ServiceDeps): Service {
  const { pool, config, ports, metrics } = deps;
  const scored = metrics.counter('fraud_scores_total', 'Transactions scored', ['decision']);
  const scoreTransaction = createBatchScorer(pool, ports.bus, config);

  const created: Subscription = {
    topic: Topics.paymentEvents,
    consumer: 'fraud',
    // Each transaction on its own and every one of a fetched batch at once: the scorer gathers
    // them into group commits and keeps one wallet's in the order they came (the bus starts a
    // batch's handlers in log order), each seeing the ones before it. Only an event whose first
    // attempt failed is scored after later ones of its wallet, when it is retried.
    orderKey: (event) => event.subject,
    concurrency: Number.POSITIVE_INFINITY,
    types: [eventType('transaction.created')],
    async handler(event, ctx) {
      if (eventName(event.type) !== 'transaction.created') return 'DROP';
      const { transaction } = parseEvent('transaction.created', event).data;
      const decision = await scoreTransaction({
        eventId: event.id,
        transaction,
        traceparent: ctx.traceparent ?? childTraceparent(event.traceparent),
      });
      scored.inc({ decision: decision ?? 'duplicate' });
      return 'SUCCESS';
    },
  };

  return { name: 'fraud', subscriptions: [created], migrations: fraudMigrations };
}
