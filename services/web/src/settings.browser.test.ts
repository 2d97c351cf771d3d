/**
 * Settings in headless Chromium against the embedded start's services on a real PostgreSQL: a user
 * sets which channels reminders may use and quiet hours, and the server keeps what they chose.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allServices } from '@taskstream/host';
import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import type { Browser } from 'playwright-core';
import { buildIfStale, launchChromium, openPage } from './test-support/browser.js';

const screenshots = fileURLToPath(new URL('../../../test-artifacts/screenshots', import.meta.url));
let rt: TestRuntime;
let browser: Browser;
const errors: string[] = [];

beforeAll(async () => {
  buildIfStale();
  mkdirSync(screenshots, { recursive: true });
  rt = await startTestRuntime(allServices);
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await rt?.close();
});

async function register(name: string) {
  const { status, body } = await rt.request('POST', '/api/auth/register', {
    body: { email: `${name}-${Date.now()}@example.com`, password: 'correct horse battery', name },
  });
  expect(status).toBe(201);
  return body.token as string;
}

test('notification preferences and quiet hours are set on the settings screen and kept', async () => {
  const token = await register('prefs');
  const other = await register('bystander');
  const page = await openPage(browser, `${rt.url}/#/settings`, errors, token);
  await page.getByRole('heading', { name: 'Notification preferences' }).waitFor();
  const push = page.getByRole('checkbox', { name: /^Push/ });
  await push.waitFor();
  await expect(push.isChecked()).resolves.toBe(true);

  await push.uncheck();
  await page.getByRole('checkbox', { name: 'Hold reminders during quiet hours' }).check();
  await page.getByLabel('From').fill('21:30');
  await page.getByLabel('Until').fill('06:45');
  await page.getByLabel('Time zone').selectOption('Europe/Berlin');
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await page.getByText('Notification preferences saved.').waitFor();
  await page.screenshot({ path: path.join(screenshots, 'settings-preferences.png'), fullPage: true });

  const saved = await rt.request('GET', '/api/preferences', { token });
  expect(saved.body).toEqual({
    channels: ['email', 'in_app'],
    quiet_hours: { start: '21:30', end: '06:45', time_zone: 'Europe/Berlin' },
  });
  // Another user's preferences are their own.
  expect((await rt.request('GET', '/api/preferences', { token: other })).body.quiet_hours).toBeNull();

  await page.reload();
  await page.getByLabel('From').waitFor();
  await expect(page.getByLabel('From').inputValue()).resolves.toBe('21:30');
  await expect(page.getByRole('checkbox', { name: /^Push/ }).isChecked()).resolves.toBe(false);

  await page.getByRole('checkbox', { name: 'Hold reminders during quiet hours' }).uncheck();
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await page.getByText('Notification preferences saved.').first().waitFor();
  await expect(
    (async () => (await rt.request('GET', '/api/preferences', { token })).body.quiet_hours)(),
  ).resolves.toBeNull();
  expect(errors).toEqual([]);
});
