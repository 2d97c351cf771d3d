import { eventName, type Transaction, type TransactionStatus } from '@taskstream/contracts';
import type { Envelope, Queryable } from '@taskstream/platform';

/** Balances and statuses as the kept event log has them (ADR 0017, `npm run replay -- --projection balances`). */
export interface LedgerReplay {
  /** Minor units per wallet: what the completed and reversed transactions moved. */
  balances: Map<string, number>;
  /** The last status each transaction's events reached. */
  statuses: Map<string, TransactionStatus>;
  /** Events read, and of those the transaction events. */
  read: number;
  transactionEvents: number;
}

const RANK: Record<TransactionStatus, number> = { created: 0, held: 1, failed: 2, completed: 2, reversed: 3 };

/**
 * Folds transaction events into balances and statuses. Delivery order may differ from commit
 * order between transactions, never within one (ADR 0016), and a status only moves forward, so
 * each transaction's latest status is its highest; the money follows from that status alone:
 * completed moved the amount, reversed moved it and moved it back. Repeated events fold to the same.
 */
export function foldPaymentEvents(events: Iterable<Envelope>, into?: LedgerReplay): LedgerReplay {
  const replay: LedgerReplay = into ?? {
    balances: new Map(),
    statuses: new Map(),
    read: 0,
    transactionEvents: 0,
  };
  for (const event of events) {
    replay.read++;
    const name = eventName(event.type);
    if (!name?.startsWith('transaction.')) continue;
    replay.transactionEvents++;
    const { transaction } = event.data as { transaction: Transaction };
    const known = replay.statuses.get(transaction.id);
    if (known !== undefined && RANK[known] >= RANK[transaction.status]) continue;
    const before = known === 'completed' ? 1 : 0;
    const after = transaction.status === 'completed' ? 1 : 0;
    // +1: the amount went from → to; 0 for created/held/failed/reversed (reversed: there and back).
    const delta = (after - before) * transaction.amount;
    if (delta !== 0) {
      add(replay.balances, transaction.from_wallet_id, -delta);
      add(replay.balances, transaction.to_wallet_id, delta);
    } else {
      replay.balances.set(transaction.from_wallet_id, replay.balances.get(transaction.from_wallet_id) ?? 0);
      replay.balances.set(transaction.to_wallet_id, replay.balances.get(transaction.to_wallet_id) ?? 0);
    }
    replay.statuses.set(transaction.id, transaction.status);
  }
  return replay;
}

const add = (map: Map<string, number>, key: string, delta: number) =>
  map.set(key, (map.get(key) ?? 0) + delta);

export interface LedgerDifference {
  kind: 'balance' | 'status' | 'entries';
  id: string;
  /** What the event log says, and what the live table says. */
  replayed: number | string | null;
  live: number | string | null;
}

/**
 * What differs between the replay and the live tables: each wallet's balance (also against the
 * sum of its ledger entries) and each transaction's status. Empty when they agree.
 */
export async function compareWithLive(db: Queryable, replay: LedgerReplay): Promise<LedgerDifference[]> {
  const differences: LedgerDifference[] = [];
  const { rows: wallets } = await db.query<{ id: string; balance: number; entries: number }>(
    `SELECT w.id, w.balance::float8 AS balance,
            coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.wallet_id = w.id), 0)::float8 AS entries
     FROM wallets w`,
  );
  const seen = new Set<string>();
  for (const wallet of wallets) {
    seen.add(wallet.id);
    const replayed = replay.balances.get(wallet.id) ?? 0;
    if (replayed !== wallet.balance)
      differences.push({ kind: 'balance', id: wallet.id, replayed, live: wallet.balance });
    if (wallet.entries !== wallet.balance)
      differences.push({ kind: 'entries', id: wallet.id, replayed: wallet.entries, live: wallet.balance });
  }
  for (const [id, balance] of replay.balances)
    if (!seen.has(id) && balance !== 0)
      differences.push({ kind: 'balance', id, replayed: balance, live: null });

  const { rows: transactions } = await db.query<{ id: string; status: TransactionStatus }>(
    'SELECT id, status FROM payment_transactions',
  );
  const known = new Set<string>();
  for (const t of transactions) {
    known.add(t.id);
    const replayed = replay.statuses.get(t.id) ?? null;
    if (replayed !== t.status) differences.push({ kind: 'status', id: t.id, replayed, live: t.status });
  }
  for (const [id, status] of replay.statuses)
    if (!known.has(id)) differences.push({ kind: 'status', id, replayed: status, live: null });
  return differences;
}

/**
 * Folds every kept `payment-events` event (the embedded event log, or under Dapr the outbox's
 * published rows) and compares the result with the live tables.
 */
export async function replayLedger(
  db: Queryable,
  options: { batchSize?: number; onProgress?: (read: number) => void } = {},
): Promise<{ replay: LedgerReplay; differences: LedgerDifference[] }> {
  const embedded = (await db.query(`SELECT to_regclass('event_log') IS NOT NULL AS ok`)).rows[0].ok;
  // The outbox also holds what waits to be published: only what went out counts.
  const from = embedded ? 'event_log WHERE' : 'outbox WHERE published_at IS NOT NULL AND';
  const replay: LedgerReplay = { balances: new Map(), statuses: new Map(), read: 0, transactionEvents: 0 };
  let after = 0;
  for (;;) {
    const { rows } = await db.query<{ id: number; event: Envelope }>(
      `SELECT id, event FROM ${from} topic = 'payment-events' AND id > $1
       ORDER BY id LIMIT $2`,
      [after, options.batchSize ?? 1000],
    );
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    foldPaymentEvents(
      rows.map((r) => r.event),
      replay,
    );
    options.onProgress?.(replay.read);
  }
  return { replay, differences: await compareWithLive(db, replay) };
}
