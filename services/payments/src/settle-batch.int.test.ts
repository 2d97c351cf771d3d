import { randomUUID } from 'node:crypto';
import { Topics, type Transaction } from '@taskstream/contracts';
import { childTraceparent, cloudEvent } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createPaymentsService } from './index.js';
import { replayLedger } from './replay.js';
import { createSettler, type Settlement } from './settle-batch.js';

// Settlement by group commit (ADR 0027) on a real PostgreSQL: many scores settled in one database
// transaction, several of them moving one wallet, some running out of funds. Payments runs alone:
// nothing scores its transfers unless a test does.

interface Wallet {
  id: string;
  balance: number;
  version: number;
}

describe('settling scored transactions together', () => {
  let rt: TestRuntime;
  let admin: string;
  let alice: string;

  const post = (path: string, token: string, body?: unknown) =>
    rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
  const wallet = async (id: string) =>
    (await rt.request('GET', `/api/wallets/${id}`, { token: admin })).body as Wallet;

  async function openWallet(deposit: number): Promise<Wallet> {
    const res = await post('/api/wallets', alice, { currency: 'EUR' });
    expect(res.status).toBe(201);
    if (deposit > 0) {
      const made = await post(`/api/wallets/${res.body.id}/deposits`, admin, { amount: deposit });
      expect(made.body.status).toBe('completed');
    }
    return res.body;
  }
  async function request(from: Wallet, to: Wallet | 'payout', amount: number): Promise<Transaction> {
    const res = await post(
      '/api/transactions',
      alice,
      to === 'payout'
        ? { kind: 'withdrawal', from_wallet_id: from.id, amount }
        : { from_wallet_id: from.id, to_wallet_id: to.id, amount },
    );
    expect([res.status, res.body.status]).toEqual([201, 'created']);
    return res.body;
  }

  interface BalanceEvent {
    wallet_id: string;
    transaction_id: string;
    balance: number;
    delta: number;
    version: number;
  }
  async function balanceEvents(walletIds: string[]): Promise<BalanceEvent[]> {
    const { rows } = await rt.pool.query(
      `SELECT event->'data' AS data FROM event_log
       WHERE topic = 'payment-events' AND event->>'type' = 'com.taskstream.balance.updated' AND partition_key = ANY($1)
       ORDER BY id`,
      [walletIds],
    );
    return rows.map((r) => r.data);
  }

  /**
   * Every wallet's `balance.updated` events, in version order, are its whole history: versions
   * 1, 2, ... up to the wallet's, each balance the previous one plus its delta, the last one the
   * wallet's balance; and no balance below zero. The balances equal their entries and the replay.
   */
  async function expectConsistentLedger(walletIds: string[]) {
    const events = await balanceEvents(walletIds);
    for (const id of walletIds) {
      const live = await wallet(id);
      const mine = events.filter((e) => e.wallet_id === id).sort((a, b) => a.version - b.version);
      expect(mine.map((e) => e.version)).toEqual(Array.from({ length: live.version }, (_, i) => i + 1));
      let balance = 0;
      for (const e of mine) {
        balance += e.delta;
        expect([e.version, e.balance]).toEqual([e.version, balance]);
        expect(e.balance).toBeGreaterThanOrEqual(0);
      }
      expect(balance).toBe(live.balance);
    }
    const { differences } = await replayLedger(rt.pool);
    expect(differences).toEqual([]);
  }

  beforeAll(async () => {
    rt = await startTestRuntime([createPaymentsService]);
    admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    alice = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('one batch decides in order: a wallet debited twice sees the first debit, and each event carries its balance', async () => {
    const settle = createSettler(rt.pool, rt.ports.bus);
    const a = await openWallet(1_000);
    const b = await openWallet(100);
    const c = await openWallet(0);
    const plan: [Transaction, Settlement['to']][] = [
      [await request(a, b, 400), 'settle'], // a 600, b 500
      [await request(a, c, 400), 'settle'], // a 200, c 400
      [await request(a, b, 400), 'settle'], // a has 200: failed
      [await request(b, a, 300), 'settle'], // b 200, a 500: the later debit of a sees it
      [await request(a, c, 500), 'settle'], // a 0, c 900
      [await request(c, a, 1_000), 'settle'], // c has 900: failed
      [await request(a, b, 1), 'held'],
      [await request(c, 'payout', 100), 'settle'], // c 800
    ];
    const missing = randomUUID();
    const sent = [
      ...plan.map(([t, to], i) => ({ id: t.id, to, fraudScore: i / 10, traceparent: childTraceparent() })),
      // A repeated delivery of the first score, and a score of a transaction that does not exist.
      { id: plan[0]![0].id, to: 'settle' as const, fraudScore: 0.9, traceparent: childTraceparent() },
      { id: missing, to: 'settle' as const, fraudScore: 0.1, traceparent: childTraceparent() },
    ];
    const results = await Promise.allSettled(sent.map((s) => settle(s)));
    const outcome = results.map((r) =>
      r.status === 'fulfilled'
        ? [r.value.moved, r.value.transaction.status, r.value.transaction.reason]
        : r.reason.status,
    );
    expect(outcome).toEqual([
      [true, 'completed', null],
      [true, 'completed', null],
      [true, 'failed', 'insufficient_funds'],
      [true, 'completed', null],
      [true, 'completed', null],
      [true, 'failed', 'insufficient_funds'],
      [true, 'held', null],
      [true, 'completed', null],
      // Not in the first batch (one score per transaction per batch): it finds it completed.
      [false, 'completed', null],
      404,
    ]);
    expect([
      (await wallet(a.id)).balance,
      (await wallet(b.id)).balance,
      (await wallet(c.id)).balance,
    ]).toEqual([0, 200, 800]);
    // One database transaction: one commit time for all eight.
    const { rows: stored } = await rt.pool.query(
      `SELECT id, status, reason, fraud_score, updated_at FROM payment_transactions WHERE id = ANY($1)`,
      [plan.map(([t]) => t.id)],
    );
    expect(new Set(stored.map((r) => r.updated_at.toISOString())).size).toBe(1);
    // What was answered (and published) is what was stored.
    for (const [i, [t]] of plan.entries()) {
      const answered = (results[i] as PromiseFulfilledResult<{ transaction: Transaction }>).value.transaction;
      expect((await rt.request('GET', `/api/transactions/${t.id}`, { token: admin })).body).toEqual(answered);
      expect(answered.fraud_score).toBe(i / 10);
    }

    // a's events in the order of its postings: successive balances and versions.
    const ofA = await balanceEvents([a.id]);
    expect(ofA.map((e) => [e.delta, e.balance, e.version])).toEqual([
      [1_000, 1_000, 1], // the deposit
      [-400, 600, 2],
      [-400, 200, 3],
      [300, 500, 4],
      [-500, 0, 5],
    ]);
    // Each transaction's events as moveIn publishes them: its own event, then one per wallet.
    const { rows: events } = await rt.pool.query(
      `SELECT topic, partition_key, event->>'type' AS type, event->>'subject' AS subject FROM event_log
       WHERE event->>'subject' = $1 OR (event->>'type' = 'com.taskstream.balance.updated' AND event->'data'->>'transaction_id' = $1)
       ORDER BY id`,
      [plan[7]![0].id],
    );
    const withdrawal = plan[7]![0];
    const payout = (await rt.pool.query(`SELECT id FROM wallets WHERE kind = 'payout'`)).rows[0].id;
    expect(events.map((e) => [e.topic, e.partition_key, e.type.replace('com.taskstream.', '')])).toEqual([
      ['payment-events', c.id, 'transaction.created'],
      ['withdrawal-events', c.id, 'withdrawal.requested'],
      ['payment-events', c.id, 'transaction.completed'],
      ['payment-events', c.id, 'balance.updated'],
      ['payment-events', payout, 'balance.updated'],
      ['withdrawal-events', c.id, 'withdrawal.completed'],
    ]);
    expect(withdrawal.kind).toBe('withdrawal');
    await expectConsistentLedger([a.id, b.id, c.id, payout]);
  });

  it('scores delivered at once settle in few transactions; with deposits alongside, the money adds up and no balance goes negative', async () => {
    const wallets = await Promise.all(Array.from({ length: 6 }, () => openWallet(1_000)));
    const pick = (n: number) => wallets[n % wallets.length]!;
    // Far more leaves the first wallets than they hold: many fail for funds, in the middle of batches.
    const created: Transaction[] = [];
    for (let round = 0; round < 4; round++)
      created.push(
        ...(await Promise.all(
          Array.from({ length: 40 }, (_, i) => {
            // Mostly out of the first three wallets into the other three, a quarter back.
            const back = i % 4 === 0;
            const from = (back ? 3 : 0) + ((i + round) % 3);
            const to = (back ? 0 : 3) + ((i * 5 + round) % 3);
            return request(pick(from), pick(to), 50 + ((i * 37) % 400));
          }),
        )),
      );
    const scores = created.map((t, i) => ({
      topic: Topics.paymentEvents,
      partitionKey: t.from_wallet_id,
      event: cloudEvent('fraud.score.updated', {
        source: '/test',
        subject: t.id,
        traceparent: childTraceparent(),
        data: {
          transaction_id: t.id,
          wallet_id: t.from_wallet_id,
          score: 0.3,
          threshold: 0.8,
          decision: i % 10 === 9 ? ('hold' as const) : ('allow' as const),
          factors: { amount: 0, velocity: 0, new_counterparty: 0 },
        },
      }),
    }));
    // All scores at once, each one twice (a redelivery changes nothing), while admins deposit into
    // the same wallets: the ledger's other writer, locking in the same order.
    await Promise.all([
      rt.ports.bus.publish([...scores, ...scores]),
      ...wallets.map((w) => post(`/api/wallets/${w.id}/deposits`, admin, { amount: 200 })),
    ]);
    const ids = created.map((t) => t.id);
    const settled = await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT status, reason, updated_at FROM payment_transactions WHERE id = ANY($1) AND status <> 'created'`,
        [ids],
      );
      return rows.length === ids.length && rows;
    }, 60_000);
    const count = (status: string) => settled.filter((r) => r.status === status).length;
    expect(count('held')).toBe(16);
    expect(count('completed')).toBeGreaterThan(10);
    expect(count('failed')).toBeGreaterThan(10);
    expect(settled.filter((r) => r.status === 'failed').every((r) => r.reason === 'insufficient_funds')).toBe(
      true,
    );
    // Batched: far fewer commit times than transactions.
    expect(new Set(settled.map((r) => r.updated_at.toISOString())).size).toBeLessThan(ids.length / 4);
    // Each transaction was decided once: one transaction event past `created`, entries only when completed.
    const { rows: decided } = await rt.pool.query(
      `SELECT event->'data'->'transaction'->>'id' AS id, count(*)::int AS n FROM event_log
       WHERE event->>'type' IN ('com.taskstream.transaction.completed', 'com.taskstream.transaction.failed', 'com.taskstream.transaction.held')
         AND event->'data'->'transaction'->>'id' = ANY($1) GROUP BY 1`,
      [ids],
    );
    expect(decided.length).toBe(ids.length);
    expect(decided.every((r) => r.n === 1)).toBe(true);
    const { rows: entries } = await rt.pool.query(
      `SELECT t.status, count(e.*)::int AS n FROM payment_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
       WHERE t.id = ANY($1) GROUP BY t.id, t.status`,
      [ids],
    );
    for (const r of entries) expect([r.status, r.n]).toEqual([r.status, r.status === 'completed' ? 2 : 0]);
    const { rows: negative } = await rt.pool.query(
      `SELECT count(*)::int AS n FROM wallets WHERE kind = 'user' AND balance < 0`,
    );
    expect(negative[0].n).toBe(0);
    await expectConsistentLedger(wallets.map((w) => w.id));
  });
});
