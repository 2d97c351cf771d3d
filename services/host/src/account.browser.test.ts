/**
 * The password change screen and the audit viewer's names in headless Chromium against the
 * embedded start's services on a real PostgreSQL.
 */
import { eventually, signUp } from '@taskstream/platform/test-support';
import type { Page } from 'playwright-core';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

const suite = browserSuite(allServices);

const PASSWORD = 'correct horse battery';
/** Console errors of the failed requests a test causes on purpose (and asserts what the UI shows). */
const expectedFailures = /status of (400|401)/;

async function register(name: string, password = PASSWORD) {
  const email = `${name}-${Date.now()}@example.com`;
  const { token, id } = await signUp(suite.rt, { email, password, name });
  return { email, token, id };
}

async function logIn(page: Page, email: string, password: string) {
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks', level: 1 }).waitFor();
}

test('a user changes their password: a wrong current one is said so at its field, the new one logs in', async () => {
  const { email } = await register('changer');
  const page = await suite.open('/');
  await logIn(page, email, PASSWORD);
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('link', { name: 'Change password' }).click();
  await page.getByRole('heading', { name: 'Change password', level: 1 }).waitFor();

  const current = page.getByLabel('Current password');
  const next = page.getByLabel('New password', { exact: true });
  const again = page.getByLabel('New password again');
  const submit = page.getByRole('button', { name: 'Change password' });

  await current.fill('not the password at all');
  await next.fill('lantern meadow quietly 42');
  await again.fill('lantern meadow quietly 42');
  await submit.click();
  await page.locator('#password-current-error', { hasText: 'The current password is wrong.' }).waitFor();
  await expect(current.getAttribute('aria-invalid')).resolves.toBe('true');
  // The 401 was about the password typed, not the session: still signed in, on this screen.
  await expect(page.getByRole('heading', { name: 'Change password', level: 1 }).isVisible()).resolves.toBe(
    true,
  );

  // The server's policy speaks at the new password's field.
  await current.fill(PASSWORD);
  await next.fill('password1234');
  await again.fill('password1234');
  await submit.click();
  await page
    .locator('#password-next-error', {
      hasText: /^The new password (is a commonly used|is too easy to guess)/,
    })
    .waitFor();
  await expect(page.locator('#password-current-error').count()).resolves.toBe(0);

  await next.fill('lantern meadow quietly 42');
  await again.fill('lantern meadow quietly 42');
  await submit.click();
  await page.getByText('Your password has been changed.').waitFor();
  await expect(current.inputValue()).resolves.toBe('');
  await suite.screenshot(page, 'password-changed');

  const old = await suite.rt.request('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
  expect(old.status).toBe(401);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await logIn(page, email, 'lantern meadow quietly 42');
  expect(suite.errors.filter((e) => !expectedFailures.test(e))).toEqual([]);
});

test('the audit viewer names actors by email and tasks by title, and filters by actor email', async () => {
  const adminAccount = await register('auditor');
  // An admin account: the role is read at login, so the browser's login below gets it.
  await suite.rt.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [adminAccount.id]);
  const ann = await register('ann');
  const ben = await register('ben');
  const stamp = Date.now() % 100000;
  const titles = { ann: `Renew passport ${stamp}`, ben: `Book the venue ${stamp}` };
  for (const [who, title] of [
    [ann, titles.ann],
    [ben, titles.ben],
  ] as const) {
    const res = await suite.rt.request('POST', '/api/tasks', { token: who.token, body: { title } });
    expect(res.status).toBe(201);
  }

  const page = await suite.open('/');
  await logIn(page, adminAccount.email, PASSWORD);
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();

  /** The rows shown after a search with this actor email: [action, subject, actor] each. */
  const search = async (email: string) => {
    await page.getByLabel('Actor email').fill(email);
    // The rows shown are this search's: its answer came and the table is no longer loading.
    const answered = page.waitForResponse(
      (r) =>
        r.url().includes('/api/audit-logs?') && new URL(r.url()).searchParams.get('actor_email') === email,
    );
    await page.getByRole('button', { name: 'Search' }).click();
    await answered;
    await page.locator('table.audit-table[aria-busy="false"]').waitFor();
    return page
      .locator('table.audit-table tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute('data-action'),
          r.querySelector('td.subject .name')?.textContent ?? r.querySelector('td.subject')?.textContent,
          r.querySelector('td.actor .name')?.textContent ?? null,
        ]),
      );
  };
  // The task events reach the audit trail asynchronously.
  const annRows = await eventually(
    async () => {
      const rows = await search(ann.email);
      return rows.some(([action]) => action === 'task.created') ? rows : undefined;
    },
    45_000,
    500,
  );
  expect(annRows).toEqual(
    expect.arrayContaining([
      ['task.created', titles.ann, ann.email],
      ['auth.login_succeeded', ann.email, ann.email],
    ]),
  );
  expect(annRows.every(([, , actor]) => actor === ann.email)).toBe(true);
  // The full ids are there: on hover, and for the copy button's name.
  const created = page.locator('tr[data-action="task.created"]');
  await expect(created.locator('td.actor .name').getAttribute('title')).resolves.toBe(ann.id);
  await created.getByRole('button', { name: `Copy the actor's id, ${ann.id}` }).waitFor();
  await suite.screenshot(page, 'audit-names');

  const benRows = await eventually(
    async () => {
      const rows = await search(ben.email.toUpperCase());
      return rows.some(([action]) => action === 'task.created') ? rows : undefined;
    },
    45_000,
    500,
  );
  expect(benRows).toEqual(expect.arrayContaining([['task.created', titles.ben, ben.email]]));
  expect(benRows.every(([, , actor]) => actor === ben.email)).toBe(true);
  expect(benRows.some(([, subject]) => subject === titles.ann)).toBe(false);

  await page.getByLabel('Actor email').fill(`nobody-${stamp}@example.com`);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No audit rows match.').waitFor();
  await expect(page.locator('table.audit-table tbody tr').count()).resolves.toBe(0);
  expect(suite.errors.filter((e) => !expectedFailures.test(e))).toEqual([]);
});
