import { Topics, type Transaction } from '@taskstream/contracts';
import {
  type Config,
  cloudEvent,
  createGroupCommit,
  type EventBus,
  type Pool,
  type PoolClient,
  withTransaction,
} from '@taskstream/platform';
import { score, type WalletHistory } from './scorer.js';

/**
 * The statements of one batch. Each takes the whole batch in one parameter, so a batch costs the
 * same four statements (and one publish) whatever its size.
 */
const SQL = {
  /**
   * The events seen for the first time: a redelivered one is not returned, so not scored again.
   * In id order: two batches that share events (two replicas given one event) wait for each
   * other's rows in the same order, never in a cycle.
   */
  inbox: `INSERT INTO fraud_inbox (event_id) SELECT id FROM unnest($1::uuid[]) AS id ORDER BY id
    ON CONFLICT DO NOTHING RETURNING event_id`,
  /**
   * Each transaction's wallet history before it, in input order: the wallet's other transactions,
   * those in the velocity window ($2 s) up to its own created_at, whether it paid the counterparty.
   */
  histories: `SELECT h.count, h.mean, h.recent, h.known
    FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (id uuid, wallet_id uuid, counterparty uuid, at timestamptz))
      WITH ORDINALITY AS t(id, wallet_id, counterparty, at, n)
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS count, avg(f.amount)::float8 AS mean,
             count(*) FILTER (WHERE f.at > t.at - make_interval(secs => $2) AND f.at <= t.at)::int AS recent,
             coalesce(bool_or(f.counterparty = t.counterparty), false) AS known
      FROM fraud_history f WHERE f.wallet_id = t.wallet_id AND f.transaction_id <> t.id
    ) h
    ORDER BY t.n`,
  /** The same rows as `histories` reads: the scored transactions join their wallets' histories. */
  history: `INSERT INTO fraud_history (transaction_id, wallet_id, counterparty, amount, at)
    SELECT id, wallet_id, counterparty, amount, at
    FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, wallet_id uuid, counterparty uuid, amount bigint, at timestamptz)
    ON CONFLICT DO NOTHING`,
  scores: `INSERT INTO fraud_scores (transaction_id, wallet_id, event_id, score, decision, factors)
    SELECT transaction_id, wallet_id, event_id, score, decision, factors
    FROM jsonb_to_recordset($1::jsonb)
      AS s(transaction_id uuid, wallet_id uuid, event_id uuid, score float8, decision text, factors jsonb)
    ON CONFLICT DO NOTHING`,
};

export interface ScoreRequest {
  eventId: string;
  transaction: Transaction;
  /** Goes on the `fraud.score.updated` event. */
  traceparent: string;
}

type Decision = ReturnType<typeof score>['decision'];

/**
 * Scores `transaction.created` events; resolves with the decision, or undefined for an event
 * scored before (a redelivery). Concurrent events share one transaction (group commit, ADR 0027):
 * the bus hands fraud a fetched batch's events at once, and one statement per kind of row and one
 * commit for all of them is what lets scoring keep up with the transfers.
 *
 * A wallet's scoring must see its earlier transactions: a wallet's events in one batch are
 * scored in the order they came, each with the batch's earlier ones folded into what the
 * database holds, and a wallet with a batch in flight waits until it has committed. A batch that fails rolls back whole and is written again event by event, so a poison
 * event fails alone and the bus retries or dead-letters only it.
 */
export function createBatchScorer(pool: Pool, bus: EventBus, settings: Config) {
  async function scoreBatch(tx: PoolClient, batch: ScoreRequest[]): Promise<(Decision | undefined)[]> {
    const inbox = await tx.query<{ event_id: string }>({
      name: 'fraud_inbox',
      text: SQL.inbox,
      values: [batch.map((r) => r.eventId)],
    });
    // PostgreSQL answers uuids in lower case.
    const freshIds = new Set(inbox.rows.map((r) => r.event_id));
    const fresh = batch.filter((r) => freshIds.has(r.eventId.toLowerCase()));
    if (fresh.length === 0) return batch.map(() => undefined);

    const transactions = JSON.stringify(
      fresh.map(({ transaction: t }) => ({
        id: t.id,
        wallet_id: t.from_wallet_id,
        counterparty: t.to_wallet_id,
        amount: t.amount,
        at: t.created_at,
      })),
    );
    const { rows } = await tx.query<{ count: number; mean: number | null; recent: number; known: boolean }>({
      name: 'fraud_histories',
      text: SQL.histories,
      values: [transactions, settings.FRAUD_VELOCITY_WINDOW_SECONDS],
    });
    // The database holds a wallet's history before this batch; its earlier transactions in the
    // batch are added here, in the order they came.
    const earlier = new Map<string, Transaction[]>();
    const windowMs = settings.FRAUD_VELOCITY_WINDOW_SECONDS * 1000;
    const scored = fresh.map((request, i) => {
      const row = rows[i]!;
      const t = request.transaction;
      const before = earlier.get(t.from_wallet_id) ?? [];
      const at = Date.parse(t.created_at);
      const count = row.count + before.length;
      const sum = (row.mean ?? 0) * row.count + before.reduce((total, b) => total + b.amount, 0);
      const history: WalletHistory = {
        count,
        meanAmount: count > 0 ? sum / count : 0,
        recent:
          row.recent +
          before.filter((b) => Date.parse(b.created_at) > at - windowMs && Date.parse(b.created_at) <= at)
            .length,
        knownCounterparty: row.known || before.some((b) => b.to_wallet_id === t.to_wallet_id),
      };
      earlier.set(t.from_wallet_id, [...before, t]);
      return { ...request, result: score(t.amount, history, settings) };
    });
    await tx.query({ name: 'fraud_history', text: SQL.history, values: [transactions] });
    const scoreRows = scored.map(({ eventId, transaction, result }) => ({
      transaction_id: transaction.id,
      wallet_id: transaction.from_wallet_id,
      event_id: eventId,
      score: result.score,
      decision: result.decision,
      factors: result.factors,
    }));
    await tx.query({ name: 'fraud_scores', text: SQL.scores, values: [JSON.stringify(scoreRows)] });
    await bus.publishInTransaction(
      tx,
      scored.map(({ transaction, traceparent, result }) => ({
        topic: Topics.paymentEvents,
        partitionKey: transaction.from_wallet_id,
        event: cloudEvent('fraud.score.updated', {
          source: '/taskstream/fraud',
          subject: transaction.id,
          data: { transaction_id: transaction.id, wallet_id: transaction.from_wallet_id, ...result },
          traceparent,
        }),
      })),
    );
    const decisions = new Map(scored.map((s) => [s.eventId, s.result.decision]));
    return batch.map((r) => decisions.get(r.eventId));
  }

  return createGroupCommit<ScoreRequest, Decision | undefined>({
    keyOf: (r) => r.transaction.from_wallet_id,
    write: (batch) => withTransaction(pool, (tx) => scoreBatch(tx, batch)),
  });
}
