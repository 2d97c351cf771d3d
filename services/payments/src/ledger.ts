import type {
  CreateDepositBody,
  CreateTransactionBody,
  CreateWalletBody,
  FailureReason,
  Transaction,
  TransactionStatus,
  Wallet,
} from '@taskstream/contracts';
import {
  assertSameRequest,
  createGroupCommit,
  type Transaction as DbTransaction,
  type EventBus,
  HttpError,
  type IdempotencyRequest,
  newId,
  notFound,
  type Pool,
  type PoolClient,
  withTransaction,
} from '@taskstream/platform';
import { type BalanceChange, messagesFor } from './events.js';
import { assertMove } from './lifecycle.js';
import { createRequestWriter } from './request-writer.js';

export const TRANSACTION_COLUMNS = `id, kind, status, from_wallet_id, to_wallet_id, amount, currency, description,
  reason, fraud_score, created_by, created_at, updated_at`;
export const WALLET_COLUMNS = 'id, user_id, kind, name, currency, balance, version, created_at';

type Row = Record<string, unknown>;
const iso = (value: unknown) => (value instanceof Date ? value : new Date(String(value))).toISOString();

export const transactionOf = (row: Row): Transaction => ({
  id: row.id as string,
  kind: row.kind as Transaction['kind'],
  status: row.status as TransactionStatus,
  from_wallet_id: row.from_wallet_id as string,
  to_wallet_id: row.to_wallet_id as string,
  amount: Number(row.amount),
  currency: row.currency as string,
  description: row.description as string,
  reason: (row.reason as FailureReason | null) ?? null,
  fraud_score: row.fraud_score === null || row.fraud_score === undefined ? null : Number(row.fraud_score),
  created_by: row.created_by as string,
  created_at: iso(row.created_at),
  updated_at: iso(row.updated_at),
});

export const walletOf = (row: Row): Wallet => ({
  id: row.id as string,
  user_id: (row.user_id as string | null) ?? null,
  kind: row.kind as Wallet['kind'],
  name: row.name as string,
  currency: row.currency as string,
  balance: Number(row.balance),
  version: Number(row.version),
  created_at: iso(row.created_at),
});

/**
 * Locks the wallets in id order, after the transaction rows they move (every writer does: the
 * rows, then the wallets by id, so two never wait on each other in a circle).
 */
export async function lockWallets(tx: DbTransaction, ids: string[]): Promise<Map<string, Wallet>> {
  const { rows } = await tx.query(
    `SELECT ${WALLET_COLUMNS} FROM wallets WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id as string, walletOf(r)]));
}

/** Whether a payer holds `amount`: a user's wallet never goes below zero, a system wallet may. */
export const covers = (payer: Wallet, amount: number): boolean =>
  payer.kind !== 'user' || payer.balance >= amount;

/** What a create answers: the resource, and whether the Idempotency-Key had already made it. */
export interface Created<T> {
  value: T;
  replayed: boolean;
}

/** The move a caller asks for; `settle` completes, or fails for funds. */
export type Move =
  | { to: 'settle' }
  | { to: 'held' }
  | { to: 'failed'; reason: FailureReason }
  | { to: 'reversed' };

export interface MoveOptions {
  /** Only from these states; from any other the call changes nothing and says so (event handlers). */
  onlyFrom?: TransactionStatus[];
  fraudScore?: number;
  traceparent: string;
}

/**
 * The ledger (ADR 0017). Every write is one PostgreSQL transaction that locks what it changes in
 * one order (the transaction's row, then its wallets by id), writes entries and balances, moves
 * the status and publishes the events through `publishInTransaction`: the events exist if and
 * only if the change committed.
 */
export function createLedger(pool: Pool, bus: EventBus) {
  const writeRequest = createRequestWriter(pool, bus);
  /** Concurrent requests' wallets in one read (ADR 0027); each request gets the ones it asked for. */
  const readWallets = createGroupCommit<string[], Map<string, Wallet>>({
    async write(lists) {
      const { rows } = await pool.query({
        name: 'payments_read_wallets',
        text: `SELECT ${WALLET_COLUMNS} FROM wallets WHERE id = ANY($1::uuid[])`,
        values: [[...new Set(lists.flat())]],
      });
      const wallets = new Map(rows.map((r) => [r.id as string, walletOf(r)]));
      return lists.map(
        (ids) => new Map(ids.flatMap((id) => (wallets.has(id) ? [[id, wallets.get(id)!]] : []))),
      );
    },
  });

  /** The system wallet of a kind and currency, made on first use (one per kind and currency). */
  async function systemWallet(kind: 'funding' | 'payout', currency: string): Promise<string> {
    for (;;) {
      const { rows } = await pool.query<{ id: string }>(
        `WITH made AS (
           INSERT INTO wallets (id, user_id, kind, name, currency) VALUES ($1, NULL, $2, $3, $4)
           ON CONFLICT (kind, currency) WHERE kind <> 'user' DO NOTHING RETURNING id
         ) SELECT id FROM made UNION ALL SELECT id FROM wallets WHERE kind = $2 AND currency = $4`,
        [newId(), kind, `${kind} ${currency}`, currency],
      );
      // Made by a concurrent first use that committed after this statement's snapshot: read again.
      if (rows[0]) return rows[0].id;
    }
  }

  /**
   * Claims the Idempotency-Key for `resourceId` in the transaction; when another request holds it,
   * waits for that one's commit and returns the id it created (after checking the body is the same).
   */
  async function claimKey(
    tx: PoolClient,
    userId: string,
    idempotency: IdempotencyRequest,
    resourceId: string,
  ): Promise<string | undefined> {
    const claimed = await tx.query(
      `INSERT INTO payment_idempotency_keys (user_id, key, request_hash, resource_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, key) DO NOTHING`,
      [userId, idempotency.key, idempotency.requestHash, resourceId],
    );
    if (claimed.rowCount === 1) return undefined;
    const { rows } = await tx.query<{ request_hash: string; resource_id: string }>(
      'SELECT request_hash, resource_id FROM payment_idempotency_keys WHERE user_id = $1 AND key = $2',
      [userId, idempotency.key],
    );
    const prior = rows[0]!;
    assertSameRequest(prior.request_hash, idempotency);
    return prior.resource_id;
  }

  async function createWallet(
    userId: string,
    body: CreateWalletBody,
    idempotency: IdempotencyRequest,
  ): Promise<Created<Wallet>> {
    return withTransaction(pool, async (tx) => {
      const id = newId();
      const prior = await claimKey(tx, userId, idempotency, id);
      if (prior) {
        const { rows } = await tx.query(`SELECT ${WALLET_COLUMNS} FROM wallets WHERE id = $1`, [prior]);
        return { value: walletOf(rows[0]!), replayed: true };
      }
      const { rows } = await tx.query(
        `INSERT INTO wallets (id, user_id, kind, name, currency) VALUES ($1, $2, 'user', $3, $4) RETURNING ${WALLET_COLUMNS}`,
        [id, userId, body.name, body.currency],
      );
      return { value: walletOf(rows[0]!), replayed: false };
    });
  }

  const findWallet = async (id: string): Promise<Wallet | undefined> => (await readWallets([id])).get(id);

  /** Inserts a transaction in `created` and publishes `transaction.created` (and `withdrawal.requested`). */
  async function insertCreated(tx: PoolClient, transaction: Transaction, traceparent: string) {
    await tx.query(
      `INSERT INTO payment_transactions (${TRANSACTION_COLUMNS})
       VALUES ($1, $2, 'created', $3, $4, $5, $6, $7, NULL, NULL, $8, $9, $9)`,
      [
        transaction.id,
        transaction.kind,
        transaction.from_wallet_id,
        transaction.to_wallet_id,
        transaction.amount,
        transaction.currency,
        transaction.description,
        transaction.created_by,
        transaction.created_at,
      ],
    );
    await bus.publishInTransaction(tx, messagesFor(transaction, [], traceparent));
  }

  async function replayOf(tx: PoolClient, id: string): Promise<Created<Transaction>> {
    const { rows } = await tx.query(`SELECT ${TRANSACTION_COLUMNS} FROM payment_transactions WHERE id = $1`, [
      id,
    ]);
    return { value: transactionOf(rows[0]!), replayed: true };
  }

  const newTransaction = (
    kind: Transaction['kind'],
    from: Wallet,
    to: string,
    amount: number,
    description: string,
    createdBy: string,
  ): Transaction => {
    const now = new Date().toISOString();
    return {
      id: newId(),
      kind,
      status: 'created',
      from_wallet_id: from.id,
      to_wallet_id: to,
      amount,
      currency: from.currency,
      description,
      reason: null,
      fraud_score: null,
      created_by: createdBy,
      created_at: now,
      updated_at: now,
    };
  };

  /**
   * A transfer or withdrawal from one of the caller's wallets, in `created`: fraud scoring decides
   * whether it settles now or is held (ADR 0018). A wallet the caller may not use is a 404.
   */
  async function request(
    userId: string,
    body: CreateTransactionBody,
    idempotency: IdempotencyRequest,
    traceparent: string,
  ): Promise<Created<Transaction>> {
    const wallets = await readWallets(
      body.kind === 'withdrawal' ? [body.from_wallet_id] : [body.from_wallet_id, body.to_wallet_id],
    );
    const from = wallets.get(body.from_wallet_id);
    if (!from || from.user_id !== userId) throw notFound('wallet');
    let to: string;
    if (body.kind === 'withdrawal') to = await systemWallet('payout', from.currency);
    else {
      const target = wallets.get(body.to_wallet_id);
      if (target?.kind !== 'user') throw notFound('wallet');
      if (target.currency !== from.currency)
        throw new HttpError(
          400,
          'currency_mismatch',
          `a transfer stays in one currency: ${from.currency} to ${target.currency}`,
          { from: from.currency, to: target.currency },
        );
      to = target.id;
    }
    const transaction = newTransaction(body.kind, from, to, body.amount, body.description, userId);
    // Concurrent requests share one transaction (ADR 0027); one whose key was taken comes back
    // undefined and is answered here, one by one as before: a replay, or 422 for another body.
    const created = await writeRequest({ transaction, idempotency, traceparent });
    if (created) return { value: created, replayed: false };
    return withTransaction(pool, async (tx) => {
      const prior = await claimKey(tx, userId, idempotency, transaction.id);
      if (prior) return replayOf(tx, prior);
      await insertCreated(tx, transaction, traceparent);
      return { value: transaction, replayed: false };
    });
  }

  /** Money into a user's wallet from the funding wallet of its currency, completed in the same transaction. */
  async function deposit(
    adminId: string,
    walletId: string,
    body: CreateDepositBody,
    idempotency: IdempotencyRequest,
    traceparent: string,
  ): Promise<Created<Transaction>> {
    const wallet = await findWallet(walletId);
    if (wallet?.kind !== 'user') throw notFound('wallet');
    const funding = await systemWallet('funding', wallet.currency);
    const fundingWallet: Wallet = { ...wallet, id: funding };
    const transaction = newTransaction(
      'deposit',
      fundingWallet,
      wallet.id,
      body.amount,
      body.description,
      adminId,
    );
    return withTransaction(pool, async (tx) => {
      const prior = await claimKey(tx, adminId, idempotency, transaction.id);
      if (prior) return replayOf(tx, prior);
      await insertCreated(tx, transaction, traceparent);
      const moved = await moveIn(tx, transaction.id, { to: 'settle' }, { traceparent });
      return { value: moved.transaction, replayed: false };
    });
  }

  /** Posts (or reverses) the two entries of a transaction and moves the balances. */
  async function post(
    tx: DbTransaction,
    transaction: Transaction,
    posting: 'post' | 'reverse',
    debit: string,
    credit: string,
  ): Promise<BalanceChange[]> {
    const { rows } = await tx.query(
      `WITH entries AS (
         INSERT INTO ledger_entries (transaction_id, wallet_id, posting, amount)
         SELECT $1, w, $2, a FROM unnest($3::uuid[], $4::bigint[]) AS x(w, a)
         RETURNING wallet_id, amount
       )
       UPDATE wallets SET balance = balance + entries.amount, version = version + 1
       FROM entries WHERE wallets.id = entries.wallet_id
       RETURNING wallets.id, wallets.user_id, wallets.currency, wallets.balance, wallets.version, entries.amount AS delta`,
      [transaction.id, posting, [debit, credit], [-transaction.amount, transaction.amount]],
    );
    return rows.map((r) => ({
      wallet_id: r.id,
      user_id: r.user_id,
      currency: r.currency,
      balance: Number(r.balance),
      delta: Number(r.delta),
      version: Number(r.version),
      transaction_id: transaction.id,
    }));
  }

  /**
   * Moves a transaction in the caller's database transaction: settle (complete, or fail with
   * `insufficient_funds`), hold, fail or reverse. A move the lifecycle refuses is a 409; so is a
   * reversal the credited wallet can no longer pay back.
   */
  async function moveIn(
    tx: DbTransaction,
    id: string,
    move: Move,
    options: MoveOptions,
  ): Promise<{ transaction: Transaction; moved: boolean }> {
    const { rows } = await tx.query(
      `SELECT ${TRANSACTION_COLUMNS} FROM payment_transactions WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!rows[0]) throw notFound('transaction');
    const before = transactionOf(rows[0]);
    if (options.onlyFrom && !options.onlyFrom.includes(before.status))
      return { transaction: before, moved: false };
    let to: TransactionStatus = move.to === 'settle' ? 'completed' : move.to;
    let reason: FailureReason | null = move.to === 'failed' ? move.reason : null;
    assertMove(before.status, to);

    let changes: BalanceChange[] = [];
    if (to === 'completed' || to === 'reversed') {
      const [debit, credit] =
        to === 'completed'
          ? [before.from_wallet_id, before.to_wallet_id]
          : [before.to_wallet_id, before.from_wallet_id];
      const wallets = await lockWallets(tx, [debit, credit]);
      const payer = wallets.get(debit)!;
      if (!covers(payer, before.amount)) {
        if (to === 'reversed')
          throw new HttpError(
            409,
            'insufficient_funds',
            'the credited wallet no longer holds the amount: the reversal would make it negative',
            { wallet_id: debit, balance: payer.balance, amount: before.amount },
          );
        to = 'failed';
        reason = 'insufficient_funds';
      } else changes = await post(tx, before, to === 'completed' ? 'post' : 'reverse', debit, credit);
    }
    const updated = await tx.query(
      `UPDATE payment_transactions SET status = $2, reason = $3, fraud_score = coalesce($4, fraud_score), updated_at = now()
       WHERE id = $1 RETURNING ${TRANSACTION_COLUMNS}`,
      [id, to, reason, options.fraudScore ?? null],
    );
    const transaction = transactionOf(updated.rows[0]!);
    await bus.publishInTransaction(tx, messagesFor(transaction, changes, options.traceparent));
    return { transaction, moved: true };
  }

  /** `moveIn` in a transaction of its own. */
  const move = (id: string, m: Move, options: MoveOptions) =>
    withTransaction(pool, (tx) => moveIn(tx, id, m, options));

  /** Held longer than `timeoutSeconds`: failed with `fraud_suspected`, a few at a time. */
  async function expireHolds(timeoutSeconds: number, traceparent: string): Promise<number> {
    let expired = 0;
    for (;;) {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id FROM payment_transactions WHERE status = 'held' AND updated_at < now() - make_interval(secs => $1)
         ORDER BY id LIMIT 100`,
        [timeoutSeconds],
      );
      for (const { id } of rows) {
        const { moved } = await move(
          id,
          { to: 'failed', reason: 'fraud_suspected' },
          { onlyFrom: ['held'], traceparent },
        );
        if (moved) expired++;
      }
      if (rows.length < 100) return expired;
    }
  }

  return { createWallet, findWallet, request, deposit, move, expireHolds };
}

export type Ledger = ReturnType<typeof createLedger>;
