import type { Transaction } from '@taskstream/contracts';
import {
  createGroupCommit,
  type EventBus,
  type IdempotencyRequest,
  type Pool,
  withTransaction,
} from '@taskstream/platform';
import { messagesFor } from './events.js';

/** Requests written together in one statement, at most. */
const MAX_BATCH = 64;
/** Batches in flight at once: while they run, new requests gather into the next ones. */
const MAX_IN_FLIGHT = 4;

/**
 * One statement for a whole batch: claims every Idempotency-Key that is free and inserts, in
 * `created`, the transactions whose key it claimed. The keys are claimed in (user, key) order, so
 * that two batches (of two processes) holding one key each never wait on each other in a cycle;
 * a key another transaction holds uncommitted waits for its commit (or its rollback, and is then
 * claimed here), as the single request's claim does.
 */
const BATCH_SQL = `WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
      id uuid, kind text, from_wallet_id uuid, to_wallet_id uuid, amount bigint, currency text,
      description text, created_by uuid, created_at timestamptz, key text, request_hash text)
  ), claimed AS (
    INSERT INTO payment_idempotency_keys (user_id, key, request_hash, resource_id)
    SELECT created_by, key, request_hash, id FROM input ORDER BY created_by, key
    ON CONFLICT (user_id, key) DO NOTHING RETURNING resource_id
  )
  INSERT INTO payment_transactions (id, kind, status, from_wallet_id, to_wallet_id, amount, currency,
    description, reason, fraud_score, created_by, created_at, updated_at)
  SELECT id, kind, 'created', from_wallet_id, to_wallet_id, amount, currency, description, NULL, NULL,
    created_by, created_at, created_at
  FROM input WHERE id IN (SELECT resource_id FROM claimed)
  RETURNING id`;

export interface TransactionRequest {
  /** The transaction to create, in `created`; its `created_by` owns the key. */
  transaction: Transaction;
  idempotency: IdempotencyRequest;
  traceparent: string;
}

/**
 * Creates requested transfers and withdrawals (group commit, ADR 0027): concurrent requests share
 * one transaction of two statements, the claim-and-insert above and one `publishInTransaction` of
 * every created transaction's events, instead of a transaction of five statements each. Resolves
 * with the transaction when this request created it, or `undefined` when its Idempotency-Key was
 * already taken (committed): the caller answers that one on the single path, which replays it or
 * refuses another body. Two requests of one user and key never share a batch, and the later one
 * waits for the earlier's batch to commit. A batch that fails is written again request by
 * request, so one bad request fails alone.
 */
export function createRequestWriter(pool: Pool, bus: EventBus) {
  return createGroupCommit<TransactionRequest, Transaction | undefined>({
    maxBatch: MAX_BATCH,
    parallel: MAX_IN_FLIGHT,
    // A uuid has a fixed length: the user and the key cannot run into each other.
    keyOf: (r) => `${r.transaction.created_by}:${r.idempotency.key}`,
    onePerKey: true,
    async write(batch) {
      const created = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ id: string }>({
          name: 'payments_request_transactions',
          text: BATCH_SQL,
          values: [
            JSON.stringify(
              batch.map(({ transaction, idempotency }) => ({
                ...transaction,
                key: idempotency.key,
                request_hash: idempotency.requestHash,
              })),
            ),
          ],
        });
        const ids = new Set(rows.map((r) => r.id));
        await bus.publishInTransaction(
          tx,
          batch.flatMap(({ transaction, traceparent }) =>
            ids.has(transaction.id) ? messagesFor(transaction, [], traceparent) : [],
          ),
        );
        return ids;
      });
      return batch.map(({ transaction }) => (created.has(transaction.id) ? transaction : undefined));
    },
  });
}

export type RequestWriter = ReturnType<typeof createRequestWriter>;
