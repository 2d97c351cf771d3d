import { randomUUID } from 'node:crypto';
import type { Transaction } from '@taskstream/contracts';
import { childTraceparent, newId } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createLedger, createPaymentsService } from './index.js';
import { createRequestWriter } from './request-writer.js';

// Requests written in batches (ADR 0027) on a real PostgreSQL: each created once with its events
// once, replays and refused keys answered as one by one, a bad request failing alone. Nothing
// scores the transactions here: they stay `created`.

interface Wallet {
  id: string;
  user_id: string;
  currency: string;
}

describe('transfer and withdrawal requests in batches', () => {
  let rt: TestRuntime;
  const users = Array.from({ length: 4 }, () => randomUUID());
  const tokens: string[] = [];
  const wallets: Wallet[] = [];
  let admin: string;

  const post = (path: string, token: string, body: unknown, key: string = randomUUID()) =>
    rt.request('POST', path, { token, body, headers: { 'idempotency-key': key } });
  const transfer = (i: number, amount = 1, key?: string) =>
    post(
      '/api/transactions',
      tokens[i]!,
      { from_wallet_id: wallets[i]!.id, to_wallet_id: wallets[(i + 1) % wallets.length]!.id, amount },
      key,
    );
  /** Rows of a transaction: itself, its key, and its events by type (with the writing transaction). */
  async function stored(id: string) {
    const { rows } = await rt.pool.query(
      `SELECT (SELECT count(*)::int FROM payment_transactions WHERE id = $1::uuid) AS transactions,
              (SELECT count(*)::int FROM payment_idempotency_keys WHERE resource_id = $1::uuid) AS keys,
              (SELECT coalesce(jsonb_object_agg(type, n), '{}') FROM (
                 SELECT event->>'type' AS type, count(*)::int AS n FROM event_log
                 WHERE event->>'subject' = $1::text GROUP BY 1) AS e) AS events,
              (SELECT array_agg(DISTINCT tx::text) FROM event_log WHERE event->>'subject' = $1::text) AS tx`,
      [id],
    );
    return rows[0] as { transactions: number; keys: number; events: Record<string, number>; tx: string[] };
  }
  const created = { 'com.taskstream.transaction.created': 1 };

  /** A transfer the writer can take straight: from user i's wallet to the next one's. */
  function transaction(i: number, patch: Partial<Transaction> = {}): Transaction {
    const now = new Date().toISOString();
    return {
      id: newId(),
      kind: 'transfer',
      status: 'created',
      from_wallet_id: wallets[i]!.id,
      to_wallet_id: wallets[(i + 1) % wallets.length]!.id,
      amount: 1,
      currency: 'EUR',
      description: '',
      reason: null,
      fraud_score: null,
      created_by: users[i]!,
      created_at: now,
      updated_at: now,
      ...patch,
    };
  }
  const request = (transaction: Transaction, key: string = randomUUID(), requestHash = 'h') => ({
    transaction,
    idempotency: { key, requestHash },
    traceparent: childTraceparent(),
  });

  beforeAll(async () => {
    rt = await startTestRuntime([createPaymentsService]);
    admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    for (const userId of users) {
      const token = await rt.auth.sign({ userId, role: 'user' });
      const wallet = await post('/api/wallets', token, { currency: 'EUR' });
      expect(wallet.status).toBe(201);
      tokens.push(token);
      wallets.push(wallet.body);
    }
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('concurrent requests with distinct keys are each created once, with their events once', async () => {
    const withdrawals = users.map((_, i) =>
      post('/api/transactions', tokens[i]!, {
        kind: 'withdrawal',
        from_wallet_id: wallets[i]!.id,
        amount: 2,
      }),
    );
    const sent = await Promise.all([
      ...Array.from({ length: 60 }, (_, n) => transfer(n % 4)),
      ...withdrawals,
    ]);
    expect(sent.map((s) => [s.status, s.body.status])).toEqual(Array(64).fill([201, 'created']));
    expect(new Set(sent.map((s) => s.body.id)).size).toBe(64);
    for (const s of sent) {
      const rows = await stored(s.body.id);
      expect([s.body.kind, rows.transactions, rows.keys, rows.events]).toEqual([
        s.body.kind,
        1,
        1,
        s.body.kind === 'withdrawal' ? { ...created, 'com.taskstream.withdrawal.requested': 1 } : created,
      ]);
      // The answer is what was stored.
      expect((await rt.request('GET', `/api/transactions/${s.body.id}`, { token: admin })).body).toEqual(
        s.body,
      );
    }
  });

  it('requests given at once share one transaction, each created once', async () => {
    const write = createRequestWriter(rt.pool, rt.ports.bus);
    const requests = Array.from({ length: 20 }, (_, n) => request(transaction(n % 4)));
    const results = await Promise.all(requests.map(write));
    expect(results).toEqual(requests.map((r) => r.transaction));
    const rows = await Promise.all(results.map((t) => stored(t!.id)));
    expect(rows.map((r) => [r.transactions, r.keys, r.events])).toEqual(Array(20).fill([1, 1, created]));
    expect(new Set(rows.flatMap((r) => r.tx)).size).toBe(1);
  });

  it('one bad request fails alone: the others of its batch are created', async () => {
    const write = createRequestWriter(rt.pool, rt.ports.bus);
    const good = Array.from({ length: 10 }, (_, n) => request(transaction(n % 4)));
    // No such wallet: the insert breaks its foreign key, and the batch with it.
    const bad = request(transaction(0, { to_wallet_id: randomUUID() }));
    const results = await Promise.allSettled([...good.slice(0, 5), bad, ...good.slice(5)].map(write));
    expect(results[5]).toMatchObject({ status: 'rejected', reason: { code: '23503' } });
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual(
      good.map((r) => r.transaction),
    );
    for (const r of good) expect((await stored(r.transaction.id)).events).toEqual(created);
    expect(await stored(bad.transaction.id)).toMatchObject({ transactions: 0, keys: 0, events: {} });
  });

  it('the same user and key given at once: one created, the others find the key taken', async () => {
    const write = createRequestWriter(rt.pool, rt.ports.bus);
    const key = randomUUID();
    const requests = Array.from({ length: 5 }, () => request(transaction(1), key));
    // The same key of another user is another request.
    const others = request(transaction(2), key);
    const results = await Promise.all([...requests, others].map(write));
    expect(results).toEqual([
      requests[0]!.transaction,
      undefined,
      undefined,
      undefined,
      undefined,
      others.transaction,
    ]);
    // Those that found the key taken left nothing behind.
    for (const r of requests.slice(1))
      expect(await stored(r.transaction.id)).toMatchObject({ transactions: 0, keys: 0, events: {} });
    const { rows } = await rt.pool.query(
      'SELECT user_id, resource_id FROM payment_idempotency_keys WHERE key = $1 ORDER BY user_id',
      [key],
    );
    expect(rows).toEqual(
      [
        { user_id: users[1], resource_id: requests[0]!.transaction.id },
        { user_id: users[2], resource_id: others.transaction.id },
      ].sort((a, b) => a.user_id!.localeCompare(b.user_id!)),
    );
  });

  it('identical requests sent at once, among others, give one transaction and the same answer', async () => {
    const key = randomUUID();
    const sent = await Promise.all([
      ...Array.from({ length: 12 }, () => transfer(0, 7, key)),
      ...Array.from({ length: 12 }, (_, n) => transfer(1 + (n % 3))),
    ]);
    const same = sent.slice(0, 12);
    expect(same.map((s) => s.status)).toEqual(Array(12).fill(201));
    for (const s of same) expect(s.body).toEqual(same[0]!.body);
    expect(await stored(same[0]!.body.id)).toMatchObject({ transactions: 1, keys: 1, events: created });
    expect(sent.slice(12).map((s) => s.status)).toEqual(Array(12).fill(201));
    // Later, the same again: the same answer.
    const again = await transfer(0, 7, key);
    expect([again.status, again.body]).toEqual([201, same[0]!.body]);
  });

  it('a key used with another body is a 422, at once or later, also for a key of a deposit', async () => {
    const key = randomUUID();
    const [a, b] = await Promise.all([transfer(2, 3, key), transfer(2, 4, key)]);
    const refused = { error: { code: 'unprocessable', details: { header: 'Idempotency-Key' } } };
    expect([a, b].map((r) => r.status).sort()).toEqual([201, 422]);
    expect([a, b].find((r) => r.status === 422)!.body).toMatchObject(refused);
    const later = await transfer(2, 5, key);
    expect([later.status, later.body]).toMatchObject([422, refused]);
    // The winner stayed as it was.
    const winner = [a, b].find((r) => r.status === 201)!.body;
    expect(await stored(winner.id)).toMatchObject({ transactions: 1, keys: 1, events: created });

    // An admin's key of a deposit, then a transfer of the admin's with it.
    const adminId = randomUUID();
    const adminToken = await rt.auth.sign({ userId: adminId, role: 'admin' });
    const adminWallet = (await post('/api/wallets', adminToken, { currency: 'EUR' })).body as Wallet;
    const depositKey = randomUUID();
    expect(
      (await post(`/api/wallets/${adminWallet.id}/deposits`, adminToken, { amount: 9 }, depositKey)).status,
    ).toBe(201);
    const reused = await post(
      '/api/transactions',
      adminToken,
      { from_wallet_id: adminWallet.id, to_wallet_id: wallets[0]!.id, amount: 1 },
      depositKey,
    );
    expect([reused.status, reused.body]).toMatchObject([422, refused]);
  });

  it('a request refused before its key (404, 400) leaves the key free', async () => {
    const key = randomUUID();
    const notTheirs = await post(
      '/api/transactions',
      tokens[3]!,
      { from_wallet_id: wallets[0]!.id, to_wallet_id: wallets[3]!.id, amount: 1 },
      key,
    );
    expect([notTheirs.status, notTheirs.body.error.code]).toEqual([404, 'not_found']);
    const ok = await transfer(3, 1, key);
    expect(ok.status).toBe(201);
  });

  it('a key another transaction holds uncommitted: the request waits for it, then replays it, or claims it after a rollback', async () => {
    const ledger = createLedger(rt.pool, rt.ports.bus);
    const body = {
      kind: 'transfer' as const,
      from_wallet_id: wallets[0]!.id,
      to_wallet_id: wallets[1]!.id,
      amount: 11,
      description: '',
    };
    const locksWaited = async () =>
      (
        await rt.pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n > 0;

    for (const end of ['COMMIT', 'ROLLBACK'] as const) {
      const key = randomUUID();
      const holder = await rt.pool.connect();
      const prior = transaction(0, { amount: 11 });
      try {
        await holder.query('BEGIN');
        await holder.query(
          `INSERT INTO payment_idempotency_keys (user_id, key, request_hash, resource_id) VALUES ($1, $2, 'same', $3)`,
          [users[0], key, prior.id],
        );
        await holder.query(
          `INSERT INTO payment_transactions (id, kind, status, from_wallet_id, to_wallet_id, amount, currency, description, created_by, created_at, updated_at)
           VALUES ($1, 'transfer', 'created', $2, $3, 11, 'EUR', '', $4, now(), now())`,
          [prior.id, prior.from_wallet_id, prior.to_wallet_id, users[0]],
        );
        const answer = ledger.request(users[0]!, body, { key, requestHash: 'same' }, childTraceparent());
        await eventually(locksWaited);
        await holder.query(end);
        const { value, replayed } = await answer;
        if (end === 'COMMIT') expect([replayed, value.id, value.amount]).toEqual([true, prior.id, 11]);
        else {
          expect([replayed, value.id === prior.id]).toEqual([false, false]);
          expect(await stored(value.id)).toMatchObject({ transactions: 1, keys: 1, events: created });
        }
      } finally {
        holder.release();
      }
    }
  });
});
