import {
  CreateDepositBody,
  CreateTransactionBody,
  CreateWalletBody,
  FailTransactionBody,
  ListTransactionsQuery,
  TransactionIdParams,
  type TransactionStatus,
  WalletIdParams,
} from '@taskstream/contracts';
import {
  type Auth,
  HttpError,
  idempotencyOf,
  notFound,
  type Pool,
  parse,
  principalOf,
} from '@taskstream/platform';
import { Router } from 'express';
import type { Ledger } from './ledger.js';
import { listTransactions, listWallets, visibleTransaction, visibleWallet } from './store.js';

export interface PaymentRoutesOptions {
  pool: Pool;
  auth: Auth;
  ledger: Ledger;
}

export function paymentRoutes({ pool, auth, ledger }: PaymentRoutesOptions): Router {
  const router = Router();

  router.get('/api/wallets', auth.requireUser, async (req, res) => {
    res.json({ items: await listWallets(pool, principalOf(req)), next_cursor: null });
  });

  router.post('/api/wallets', auth.requireUser, async (req, res) => {
    const body = parse(CreateWalletBody, req.body);
    const created = await ledger.createWallet(
      principalOf(req).userId,
      body,
      idempotencyOf(req, body, { required: true }),
    );
    res.status(201).json(created.value);
  });

  router.get('/api/wallets/:id', auth.requireUser, async (req, res) => {
    const { id } = parse(WalletIdParams, req.params, 'params');
    const wallet = await visibleWallet(pool, principalOf(req), id);
    if (!wallet) throw notFound('wallet');
    res.json(wallet);
  });

  router.post('/api/wallets/:id/deposits', auth.requireUser, auth.requireAdmin, async (req, res) => {
    const { id } = parse(WalletIdParams, req.params, 'params');
    const body = parse(CreateDepositBody, req.body);
    const idempotency = idempotencyOf(req, { wallet: id, ...body }, { required: true });
    const created = await ledger.deposit(principalOf(req).userId, id, body, idempotency, req.traceparent);
    res.status(201).json(created.value);
  });

  router.get('/api/transactions', auth.requireUser, async (req, res) => {
    const query = parse(ListTransactionsQuery, req.query, 'query');
    res.json(await listTransactions(pool, principalOf(req), query));
  });

  router.post('/api/transactions', auth.requireUser, async (req, res) => {
    const body = parse(CreateTransactionBody, req.body);
    const idempotency = idempotencyOf(req, body, { required: true });
    const created = await ledger.request(principalOf(req).userId, body, idempotency, req.traceparent);
    res.status(201).json(created.value);
  });

  router.get('/api/transactions/:id', auth.requireUser, async (req, res) => {
    const { id } = parse(TransactionIdParams, req.params, 'params');
    const transaction = await visibleTransaction(pool, principalOf(req), id);
    if (!transaction) throw notFound('transaction');
    res.json(transaction);
  });

  // Admins' moves: reversing a completed transaction, and deciding a held one.
  router.post('/api/transactions/:id/reverse', auth.requireUser, auth.requireAdmin, async (req, res) => {
    const { id } = parse(TransactionIdParams, req.params, 'params');
    res.json((await ledger.move(id, { to: 'reversed' }, { traceparent: req.traceparent })).transaction);
  });
  router.post('/api/transactions/:id/release', auth.requireUser, auth.requireAdmin, async (req, res) => {
    const { id } = parse(TransactionIdParams, req.params, 'params');
    // Only a held transaction is released: a created one waits for its score.
    const { transaction, moved } = await ledger.move(
      id,
      { to: 'settle' },
      { onlyFrom: ['held'], traceparent: req.traceparent },
    );
    if (!moved) throw releaseRefused(transaction.status);
    res.json(transaction);
  });
  router.post('/api/transactions/:id/fail', auth.requireUser, auth.requireAdmin, async (req, res) => {
    const { id } = parse(TransactionIdParams, req.params, 'params');
    const { reason } = parse(FailTransactionBody, req.body ?? {});
    const { transaction, moved } = await ledger.move(
      id,
      { to: 'failed', reason },
      { onlyFrom: ['held'], traceparent: req.traceparent },
    );
    if (!moved) throw releaseRefused(transaction.status, 'failed');
    res.json(transaction);
  });

  return router;
}

/**
 * Release and fail act on held transactions only (ADR 0018): a created one waits for its score,
 * so an admin cannot settle it ahead of fraud scoring.
 */
const releaseRefused = (from: TransactionStatus, to: TransactionStatus = 'completed') =>
  new HttpError(
    409,
    'invalid_transition',
    from === 'created'
      ? 'the transaction is not held: it waits for its fraud score'
      : `a ${from} transaction cannot become ${to}`,
    { from, to },
  );
