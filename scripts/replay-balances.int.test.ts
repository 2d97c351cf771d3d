import { randomUUID } from 'node:crypto';
import { createFraudService } from '@taskstream/fraud';
import { createPaymentsService } from '@taskstream/payments';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { replayBalances } from './replay.js';

describe('npm run replay -- --projection balances', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([createPaymentsService, createFraudService]);
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('exits 0 when the live tables agree with the event log, and names each difference otherwise', async () => {
    const admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    const user = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    const post = (path: string, token: string, body: unknown) =>
      rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
    const a = (await post('/api/wallets', user, { currency: 'JPY' })).body;
    const b = (await post('/api/wallets', user, { currency: 'JPY' })).body;
    await post(`/api/wallets/${a.id}/deposits`, admin, { amount: 5_000 });
    const tx = (
      await post('/api/transactions', user, { from_wallet_id: a.id, to_wallet_id: b.id, amount: 1_200 })
    ).body;
    await eventually(
      async () =>
        (await rt.request('GET', `/api/transactions/${tx.id}`, { token: user })).body.status === 'completed',
    );

    const lines: string[] = [];
    expect(await replayBalances(rt.pool, (line) => lines.push(line))).toBe(0);
    expect(JSON.parse(lines[0]!)).toMatchObject({ projection: 'balances', transactions: 2, differences: 0 });

    // A status changed behind the ledger's back is reported with both values.
    await rt.pool.query(
      `UPDATE payment_transactions SET status = 'failed', reason = 'fraud_suspected' WHERE id = $1`,
      [tx.id],
    );
    lines.length = 0;
    expect(await replayBalances(rt.pool, (line) => lines.push(line))).toBe(1);
    expect(lines.slice(1)).toEqual([`status ${tx.id}: replayed completed, live failed`]);
  });
});
