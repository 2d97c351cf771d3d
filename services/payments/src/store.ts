import type { ListTransactionsQuery, Transaction, Wallet } from '@taskstream/contracts';
import { badRequest, type Pool, type Principal } from '@taskstream/platform';
import { TRANSACTION_COLUMNS, transactionOf, WALLET_COLUMNS, walletOf } from './ledger.js';

/** Admins see every wallet and transaction; a user only their wallets and what touches them. */
const isAdmin = (principal: Principal) => principal.role === 'admin';

export async function listWallets(pool: Pool, principal: Principal): Promise<Wallet[]> {
  const { rows } = await pool.query(
    `SELECT ${WALLET_COLUMNS} FROM wallets WHERE $1::uuid IS NULL OR user_id = $1 ORDER BY id LIMIT 1000`,
    [isAdmin(principal) ? null : principal.userId],
  );
  return rows.map(walletOf);
}

export async function visibleWallet(
  pool: Pool,
  principal: Principal,
  id: string,
): Promise<Wallet | undefined> {
  const { rows } = await pool.query(`SELECT ${WALLET_COLUMNS} FROM wallets WHERE id = $1`, [id]);
  const wallet = rows[0] ? walletOf(rows[0]) : undefined;
  return wallet && (isAdmin(principal) || wallet.user_id === principal.userId) ? wallet : undefined;
}

/** A transaction the caller may see: one of their wallets is debited or credited, or they are an admin. */
export async function visibleTransaction(
  pool: Pool,
  principal: Principal,
  id: string,
): Promise<Transaction | undefined> {
  const { rows } = await pool.query(
    `SELECT ${TRANSACTION_COLUMNS} FROM payment_transactions t WHERE id = $1
       AND ($2::uuid IS NULL OR EXISTS (
         SELECT 1 FROM wallets w WHERE w.user_id = $2 AND w.id IN (t.from_wallet_id, t.to_wallet_id)))`,
    [id, isAdmin(principal) ? null : principal.userId],
  );
  return rows[0] ? transactionOf(rows[0]) : undefined;
}

/** The opaque cursor: the last id of the page (ids are UUIDv7, so id order is creation order). */
const encodeCursor = (id: string) => Buffer.from(JSON.stringify({ id })).toString('base64url');
function decodeCursor(cursor: string): string {
  try {
    const { id } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { id?: unknown };
    if (typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return id;
  } catch {
    // fall through: not one of ours
  }
  throw badRequest('cursor is not valid; use next_cursor from a previous page', { field: 'cursor' });
}

/** Newest first, keyset-paged by id. */
export async function listTransactions(pool: Pool, principal: Principal, query: ListTransactionsQuery) {
  const { rows } = await pool.query(
    `WITH mine AS (SELECT id FROM wallets WHERE user_id = $1)
     SELECT ${TRANSACTION_COLUMNS} FROM payment_transactions t
     WHERE ($1::uuid IS NULL OR t.from_wallet_id IN (SELECT id FROM mine) OR t.to_wallet_id IN (SELECT id FROM mine))
       AND ($2::uuid IS NULL OR t.from_wallet_id = $2 OR t.to_wallet_id = $2)
       AND ($3::text IS NULL OR t.status = $3)
       AND ($4::text IS NULL OR t.kind = $4)
       AND ($5::timestamptz IS NULL OR t.created_at >= $5)
       AND ($6::timestamptz IS NULL OR t.created_at < $6)
       AND ($7::uuid IS NULL OR t.id < $7)
     ORDER BY t.id DESC LIMIT $8`,
    [
      isAdmin(principal) ? null : principal.userId,
      query.wallet_id ?? null,
      query.status ?? null,
      query.kind ?? null,
      query.created_after ?? null,
      query.created_before ?? null,
      query.cursor ? decodeCursor(query.cursor) : null,
      query.limit + 1,
    ],
  );
  const items = rows.slice(0, query.limit).map(transactionOf);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > query.limit && last ? encodeCursor(last.id) : null };
}
