import type { FailureReason, Transaction, TransactionStatus, Wallet } from '@taskstream/contracts';
import {
  createGroupCommit,
  type Transaction as DbTransaction,
  type EventBus,
  notFound,
  type OutgoingMessage,
  type Pool,
  withTransaction,
} from '@taskstream/platform';
import { type BalanceChange, messagesFor } from './events.js';
import { covers, lockWallets, TRANSACTION_COLUMNS, transactionOf } from './ledger.js';
import { assertMove } from './lifecycle.js';

/** Scores settled together in one transaction, at most. */
const MAX_BATCH = 64;
/** Batches in flight at once: while they run, new scores gather into the next ones. */
const MAX_IN_FLIGHT = 4;

/** What a fraud score decides for a transaction still in `created` (ADR 0018). */
export interface Settlement {
  id: string;
  /** `settle` completes it, or fails it for funds; `held` waits for an admin. */
  to: 'settle' | 'held';
  fraudScore: number;
  traceparent: string;
}

export interface Settled {
  /** The transaction as the settlement left it (as it was, when it was no longer in `created`). */
  transaction: Transaction;
  /** False when it was no longer in `created` (a repeated delivery): nothing changed. */
  moved: boolean;
}

/** Lock order: the transaction rows by id, before their wallets (ledger.ts `lockWallets`). */
const LOCK_SQL = `SELECT ${TRANSACTION_COLUMNS}, now() AS now FROM payment_transactions
  WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`;

/**
 * Every write of a batch in one statement: the entries, each wallet's balance and version moved by
 * the sum of its postings, each transaction's new status. Returns the wallets as they end, which
 * the caller checks against what it computed under the locks.
 */
const WRITE_SQL = `WITH entries AS (
    INSERT INTO ledger_entries (transaction_id, wallet_id, posting, amount)
    SELECT t, w, 'post', a FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS x(t, w, a)
  ), moved AS (
    UPDATE payment_transactions p
    SET status = m.status, reason = m.reason, fraud_score = coalesce(m.score, p.fraud_score), updated_at = now()
    FROM unnest($4::uuid[], $5::text[], $6::text[], $7::float8[]) AS m(id, status, reason, score)
    WHERE p.id = m.id
  )
  UPDATE wallets w SET balance = w.balance + d.delta, version = w.version + d.n
  FROM unnest($8::uuid[], $9::bigint[], $10::int[]) AS d(id, delta, n)
  WHERE w.id = d.id
  RETURNING w.id, w.balance::float8 AS balance, w.version::float8 AS version`;

/** One posting's balance change on a locked wallet, applied to it: the next posting sees it. */
function apply(wallet: Wallet, delta: number, transactionId: string): BalanceChange {
  wallet.balance += delta;
  wallet.version += 1;
  return {
    wallet_id: wallet.id,
    user_id: wallet.user_id,
    currency: wallet.currency,
    balance: wallet.balance,
    delta,
    version: wallet.version,
    transaction_id: transactionId,
  };
}

/**
 * Settles scored transactions with group commit (ADR 0027): the scores handled at once share one
 * database transaction of four statements (whatever the batch's size), instead of a transaction
 * of five statements each. The batch locks its transaction rows, then all their wallets (both by id: the
 * ledger's one lock order, so batches, admin moves, deposits and hold expiry never wait on each
 * other in a circle), decides each transaction in the batch's order as `moveIn` would, a wallet's
 * balance carried from one posting to the next, and writes the entries, balances, statuses and
 * events together. Each transaction's events are the ones `moveIn` publishes: each
 * `balance.updated` has the wallet's balance and version after that posting.
 *
 * Resolves with the transaction; rejects with a 404 for an unknown one. A batch that fails is
 * settled again transaction by transaction, so one bad transaction fails alone.
 */
export function createSettler(pool: Pool, bus: EventBus): (settlement: Settlement) => Promise<Settled> {
  const settleBatch = createGroupCommit<Settlement, Settled | undefined>({
    maxBatch: MAX_BATCH,
    parallel: MAX_IN_FLIGHT,
    // Two scores of one transaction (a redelivery) in separate batches: the second finds it moved.
    keyOf: (s) => s.id,
    onePerKey: true,
    write: (batch) => withTransaction(pool, (tx) => settleIn(tx, batch)),
  });

  async function settleIn(tx: DbTransaction, batch: Settlement[]) {
    const { rows } = await tx.query({
      name: 'payments_settle_lock',
      text: LOCK_SQL,
      values: [batch.map((s) => s.id)],
    });
    const found = new Map(rows.map((r) => [r.id as string, transactionOf(r)]));
    const now = rows[0] && new Date(rows[0].now).toISOString();
    const settling = batch.flatMap((s) => {
      const t = found.get(s.id);
      return s.to === 'settle' && t?.status === 'created' ? [t.from_wallet_id, t.to_wallet_id] : [];
    });
    const wallets = settling.length > 0 ? await lockWallets(tx, [...new Set(settling)]) : new Map();

    const entries = { transaction: [] as string[], wallet: [] as string[], amount: [] as number[] };
    const moves = {
      id: [] as string[],
      status: [] as string[],
      reason: [] as (string | null)[],
      score: [] as number[],
    };
    const messages: OutgoingMessage[] = [];
    const results = batch.map((s): Settled | undefined => {
      const before = found.get(s.id);
      if (!before) return undefined;
      if (before.status !== 'created') return { transaction: before, moved: false };
      let status: TransactionStatus = s.to === 'held' ? 'held' : 'completed';
      let reason: FailureReason | null = null;
      assertMove(before.status, status);
      const changes: BalanceChange[] = [];
      if (status === 'completed') {
        const payer = wallets.get(before.from_wallet_id)!;
        if (!covers(payer, before.amount)) {
          status = 'failed';
          reason = 'insufficient_funds';
        } else {
          const payee = wallets.get(before.to_wallet_id)!;
          changes.push(apply(payer, -before.amount, before.id), apply(payee, before.amount, before.id));
          for (const c of changes) {
            entries.transaction.push(before.id);
            entries.wallet.push(c.wallet_id);
            entries.amount.push(c.delta);
          }
        }
      }
      moves.id.push(before.id);
      moves.status.push(status);
      moves.reason.push(reason);
      moves.score.push(s.fraudScore);
      const transaction: Transaction = {
        ...before,
        status,
        reason,
        fraud_score: s.fraudScore,
        updated_at: now!,
      };
      messages.push(...messagesFor(transaction, changes, s.traceparent));
      return { transaction, moved: true };
    });
    if (moves.id.length === 0) return results;

    // Each wallet once: moved by the sum of its postings, its version by their number.
    const sums = new Map<string, { delta: number; n: number }>();
    for (const [i, wallet] of entries.wallet.entries()) {
      const sum = sums.get(wallet) ?? { delta: 0, n: 0 };
      sum.delta += entries.amount[i]!;
      sum.n += 1;
      sums.set(wallet, sum);
    }
    const written = await tx.query<{ id: string; balance: number; version: number }>({
      name: 'payments_settle_write',
      text: WRITE_SQL,
      values: [
        entries.transaction,
        entries.wallet,
        entries.amount,
        moves.id,
        moves.status,
        moves.reason,
        moves.score,
        [...sums.keys()],
        [...sums.values()].map((s) => s.delta),
        [...sums.values()].map((s) => s.n),
      ],
    });
    // The balances the events carry are the ones written: anything else would be a bug here, and
    // rolls back rather than publish a wrong balance.
    if (written.rows.length !== sums.size) throw new Error('settlement: a locked wallet was not written');
    for (const w of written.rows) {
      const mine = wallets.get(w.id)!;
      if (mine.balance !== w.balance || mine.version !== w.version)
        throw new Error(
          `settlement of wallet ${w.id}: computed ${mine.balance} v${mine.version}, wrote ${w.balance} v${w.version}`,
        );
    }
    await bus.publishInTransaction(tx, messages);
    return results;
  }

  return async (settlement) => {
    const settled = await settleBatch(settlement);
    if (!settled) throw notFound('transaction');
    return settled;
  };
}
