import { eventName, parseEvent, Topics } from '@taskstream/contracts';
import {
  childTraceparent,
  cloudEvent,
  type Service,
  type ServiceDeps,
  type Subscription,
  withTransaction,
} from '@taskstream/platform';
import { fraudMigrations } from './schema.js';
import { score, type WalletHistory } from './scorer.js';

export { fraudMigrations } from './schema.js';
export { type ScorerSettings, score, type WalletHistory } from './scorer.js';

/**
 * Fraud scoring (ADR 0018): every `transaction.created` is scored once in effect, and the score
 * goes out as `fraud.score.updated` on `payment-events`, which payments acts on. The inbox row, the
 * wallet's history, the score and the event are one transaction: a redelivered event finds its
 * inbox row and publishes nothing again.
 */
export function createFraudService(deps: ServiceDeps): Service {
  const { pool, config, ports, metrics } = deps;
  const scored = metrics.counter('fraud_scores_total', 'Transactions scored', ['decision']);

  const created: Subscription = {
    topic: Topics.paymentEvents,
    consumer: 'fraud',
    // The default order key (the paying wallet): a wallet's transactions are scored one after
    // another, so each sees the ones before it.
    async handler(event, ctx) {
      if (eventName(event.type) !== 'transaction.created') return 'DROP';
      const { transaction } = parseEvent('transaction.created', event).data;
      const decision = await withTransaction(pool, async (tx) => {
        const fresh = await tx.query(
          'INSERT INTO fraud_inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING',
          [event.id],
        );
        if (fresh.rowCount === 0) return undefined;
        const { rows } = await tx.query<{
          count: number;
          mean: number | null;
          recent: number;
          known: boolean;
        }>(
          `SELECT count(*)::int AS count, avg(amount)::float8 AS mean,
                  count(*) FILTER (WHERE at > $2::timestamptz - make_interval(secs => $3) AND at <= $2)::int AS recent,
                  bool_or(counterparty = $4) AS known
           FROM fraud_history WHERE wallet_id = $1 AND transaction_id <> $5`,
          [
            transaction.from_wallet_id,
            transaction.created_at,
            config.FRAUD_VELOCITY_WINDOW_SECONDS,
            transaction.to_wallet_id,
            transaction.id,
          ],
        );
        const row = rows[0]!;
        const history: WalletHistory = {
          count: row.count,
          meanAmount: row.mean ?? 0,
          recent: row.recent,
          knownCounterparty: row.known ?? false,
        };
        const result = score(transaction.amount, history, config);
        await tx.query(
          `INSERT INTO fraud_history (transaction_id, wallet_id, counterparty, amount, at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING`,
          [
            transaction.id,
            transaction.from_wallet_id,
            transaction.to_wallet_id,
            transaction.amount,
            transaction.created_at,
          ],
        );
        const scoredEvent = cloudEvent('fraud.score.updated', {
          source: '/taskstream/fraud',
          subject: transaction.id,
          data: { transaction_id: transaction.id, wallet_id: transaction.from_wallet_id, ...result },
          traceparent: ctx.traceparent ?? childTraceparent(event.traceparent),
        });
        await tx.query(
          `INSERT INTO fraud_scores (transaction_id, wallet_id, event_id, score, decision, factors)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [
            transaction.id,
            transaction.from_wallet_id,
            event.id,
            result.score,
            result.decision,
            result.factors,
          ],
        );
        await ports.bus.publishInTransaction(tx, [
          { topic: Topics.paymentEvents, partitionKey: transaction.from_wallet_id, event: scoredEvent },
        ]);
        return result.decision;
      });
      scored.inc({ decision: decision ?? 'duplicate' });
      return 'SUCCESS';
    },
  };

  return { name: 'fraud', subscriptions: [created], migrations: fraudMigrations };
}
