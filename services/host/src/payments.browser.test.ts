/**
 * Payments in headless Chromium against the embedded start's services on a real PostgreSQL: a
 * user sees only their own wallets and sends money (the balance follows once fraud scoring
 * settles it); an admin releases a held payment from the payments dashboard.
 */
import { randomUUID } from 'node:crypto';
import { eventually, signUp } from '@taskstream/platform/test-support';
import type { Page } from 'playwright-core';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

// As in payments.int.test.ts: a usual first transfer scores 0.45 and completes; a ninefold amount
// to a new counterparty right after it reaches 0.7 and is held.
const suite = browserSuite(allServices, { env: { FRAUD_HOLD_THRESHOLD: '0.7', FRAUD_VELOCITY_LIMIT: '2' } });
const PASSWORD = 'payments passphrase';

const post = (path: string, token: string, body?: unknown) =>
  suite.rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });

async function logIn(email: string): Promise<Page> {
  const page = await suite.open('/#/login');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks', level: 1 }).waitFor();
  return page;
}

async function user(name: string) {
  const email = `${name}-${randomUUID()}@example.com`;
  const { token } = await signUp(suite.rt, { email, password: PASSWORD, name });
  return { email, token };
}

test('a user sees only their wallets, sends money and sees the balance change', async () => {
  const admin = await suite.rt.auth.sign({ userId: randomUUID(), role: 'admin' });
  const alice = await user('alice');
  const bob = await user('bob');
  const mine = (await post('/api/wallets', alice.token, { currency: 'EUR', name: 'Alice main' })).body;
  const theirs = (await post('/api/wallets', bob.token, { currency: 'EUR', name: 'Bob secret' })).body;
  expect((await post(`/api/wallets/${mine.id}/deposits`, admin, { amount: 10_000 })).status).toBe(201);

  const page = await logIn(alice.email);
  await page.getByRole('link', { name: 'Wallets' }).click();
  await page.getByRole('heading', { name: 'Wallets', level: 1 }).waitFor();
  const wallet = page.locator(`li[data-wallet-id="${mine.id}"]`);
  await wallet.getByText('€100.00').waitFor();
  // Bob's wallet is his: not listed, nowhere on the page.
  await expect(page.getByText('Bob secret').count()).resolves.toBe(0);

  await page.getByLabel('To wallet').fill(theirs.id);
  await page.getByLabel('Amount (EUR)').fill('25.50');
  await page.getByLabel('Description').fill('lunch');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await wallet.getByText('€74.50').waitFor({ timeout: 20_000 });
  await page.locator('tr[data-status="completed"]', { hasText: '€25.50' }).waitFor();
  await suite.screenshot(page, 'wallets');

  expect(
    (await suite.rt.request('GET', `/api/wallets/${theirs.id}`, { token: bob.token })).body.balance,
  ).toBe(2_550);
  const history = await suite.rt.request('GET', '/api/transactions', { token: alice.token });
  expect(history.body.items.filter((t: { kind: string }) => t.kind === 'transfer')).toHaveLength(1);
  expect(suite.errors).toEqual([]);
});

test('an admin sees the payments dashboard and releases a held payment', async () => {
  const bootstrap = await suite.rt.auth.sign({ userId: randomUUID(), role: 'admin' });
  const email = `payments-admin-${randomUUID()}@example.com`;
  const created = await suite.rt.request('POST', '/api/admin/users', {
    token: bootstrap,
    body: { email, password: PASSWORD, name: 'Payments Admin', role: 'admin' },
  });
  expect(created.status).toBe(201);
  const carol = await user('carol');
  const dave = await user('dave');
  const from = (await post('/api/wallets', carol.token, { currency: 'EUR' })).body;
  const to = (await post('/api/wallets', dave.token, { currency: 'EUR' })).body;
  const other = (await post('/api/wallets', dave.token, { currency: 'EUR' })).body;
  await post(`/api/wallets/${from.id}/deposits`, bootstrap, { amount: 100_000 });
  const settled = (id: string) =>
    eventually(async () => {
      const res = await suite.rt.request('GET', `/api/transactions/${id}`, { token: bootstrap });
      return res.body.status !== 'created' && res.body;
    });
  const usual = await post('/api/transactions', carol.token, {
    from_wallet_id: from.id,
    to_wallet_id: to.id,
    amount: 1_000,
  });
  expect((await settled(usual.body.id)).status).toBe('completed');
  const outlier = await post('/api/transactions', carol.token, {
    from_wallet_id: from.id,
    to_wallet_id: other.id,
    amount: 9_000,
  });
  expect((await settled(outlier.body.id)).status).toBe('held');

  const page = await logIn(email);
  await page.getByRole('link', { name: 'Payments' }).click();
  await page.getByRole('heading', { name: 'Payments', level: 1 }).waitFor();
  await page.getByText('Transactions per second by status').first().waitFor();
  await page.getByText('Fraud scores of the latest').waitFor();
  const release = page.getByRole('button', { name: `Release payment ${outlier.body.id}` });
  await release.waitFor();
  await suite.screenshot(page, 'payments-dashboard');
  // The dashboard follows the payments tracker: a transfer made now shows without a reload.
  await page.locator('[data-live="connected"]').waitFor();
  const fresh = await post('/api/transactions', carol.token, {
    from_wallet_id: from.id,
    to_wallet_id: to.id,
    amount: 700,
  });
  await page.locator(`tr[data-transaction-id="${fresh.body.id}"]`).first().waitFor();
  await release.click();
  await release.waitFor({ state: 'detached' });
  expect(
    (await suite.rt.request('GET', `/api/transactions/${outlier.body.id}`, { token: bootstrap })).body.status,
  ).toBe('completed');
  expect(suite.errors).toEqual([]);
});
