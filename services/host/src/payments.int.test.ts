import { randomUUID } from 'node:crypto';
import { createFraudService } from '@taskstream/fraud';
import { createPaymentsService, replayLedger } from '@taskstream/payments';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';

// Payments and fraud together, as the host runs them: a transfer is scored by the fraud service
// and settled or held by payments on the score, both through `payment-events` only.

describe('payments with fraud scoring', () => {
  let rt: TestRuntime;
  let admin: string;
  let alice: string;
  let bob: string;

  const post = (path: string, token: string, body?: unknown) =>
    rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
  const settled = (id: string) =>
    eventually(async () => {
      const res = await rt.request('GET', `/api/transactions/${id}`, { token: admin });
      return res.body.status !== 'created' && res.body;
    });

  beforeAll(async () => {
    // Two new counterparties in a row and a ninefold amount reach the threshold; one usual payment does not.
    rt = await startTestRuntime([createPaymentsService, createFraudService], {
      env: { FRAUD_HOLD_THRESHOLD: '0.7', FRAUD_VELOCITY_LIMIT: '2' },
    });
    admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    alice = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    bob = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
  });
  afterAll(async () => {
    await rt?.close();
  });

  test('a usual transfer completes on its score; an outlier is held, then released or failed by an admin', async () => {
    const from = (await post('/api/wallets', alice, { currency: 'EUR' })).body;
    const to = (await post('/api/wallets', bob, { currency: 'EUR' })).body;
    const other = (await post('/api/wallets', bob, { currency: 'EUR' })).body;
    expect((await post(`/api/wallets/${from.id}/deposits`, admin, { amount: 100_000 })).status).toBe(201);

    const first = await post('/api/transactions', alice, {
      from_wallet_id: from.id,
      to_wallet_id: to.id,
      amount: 1_000,
    });
    expect(first.body.status).toBe('created');
    const done = await settled(first.body.id);
    // No history: half the amount weight plus the new counterparty, below 0.7.
    expect(done).toMatchObject({ status: 'completed', fraud_score: 0.45 });

    const outlier = await post('/api/transactions', alice, {
      from_wallet_id: from.id,
      to_wallet_id: other.id,
      amount: 9_000,
    });
    const held = await settled(outlier.body.id);
    expect(held.status).toBe('held');
    expect(held.fraud_score).toBeGreaterThanOrEqual(0.7);
    const { rows } = await rt.pool.query(
      'SELECT decision, factors FROM fraud_scores WHERE transaction_id = $1',
      [outlier.body.id],
    );
    expect(rows[0]).toEqual({ decision: 'hold', factors: { amount: 1, velocity: 0.5, new_counterparty: 1 } });
    const released = await post(`/api/transactions/${outlier.body.id}/release`, admin);
    expect([released.status, released.body.status]).toEqual([200, 'completed']);

    const third = await post('/api/transactions', alice, {
      from_wallet_id: from.id,
      to_wallet_id: to.id,
      amount: 50_000,
    });
    expect((await settled(third.body.id)).status).toBe('held');
    const failed = await post(`/api/transactions/${third.body.id}/fail`, admin, {});
    expect([failed.body.status, failed.body.reason]).toEqual(['failed', 'fraud_suspected']);

    // Bob sees the transfers to his wallets, not Alice's deposit.
    const bobs = await rt.request('GET', '/api/transactions', { token: bob });
    expect(bobs.body.items.map((t: { id: string }) => t.id).sort()).toEqual(
      [first.body.id, outlier.body.id, third.body.id].sort(),
    );
    expect((await rt.request('GET', `/api/wallets/${from.id}`, { token: bob })).status).toBe(404);

    // One score per transaction, and the replay agrees with the live tables.
    const { rows: scores } = await rt.pool.query('SELECT count(*)::int AS n FROM fraud_scores');
    expect(scores[0].n).toBe(4);
    await eventually(async () => (await replayLedger(rt.pool)).differences.length === 0);
  });
});
