/**
 * Settings in headless Chromium against the embedded start's services on a real PostgreSQL: a user
 * sets which channels reminders may use and quiet hours, and the server keeps what they chose.
 */
import { signUp } from '@taskstream/platform/test-support';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

const suite = browserSuite(allServices);

const PASSWORD = 'correct horse battery';

async function register(name: string) {
  const email = `${name}-${Date.now()}@example.com`;
  const { token } = await signUp(suite.rt, { email, password: PASSWORD, name });
  return { email, token };
}

test('notification preferences and quiet hours are set on the settings screen and kept', async () => {
  const { email, token } = await register('prefs');
  const other = (await register('bystander')).token;
  const page = await suite.open('/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'Settings' }).click();
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
  await suite.screenshot(page, 'settings-preferences');

  const saved = await suite.rt.request('GET', '/api/preferences', { token });
  expect(saved.body).toEqual({
    channels: ['email', 'in_app'],
    quiet_hours: { start: '21:30', end: '06:45', time_zone: 'Europe/Berlin' },
  });
  // Another user's preferences are their own.
  expect((await suite.rt.request('GET', '/api/preferences', { token: other })).body.quiet_hours).toBeNull();

  await page.reload();
  await page.getByLabel('From').waitFor();
  await expect(page.getByLabel('From').inputValue()).resolves.toBe('21:30');
  await expect(page.getByRole('checkbox', { name: /^Push/ }).isChecked()).resolves.toBe(false);

  await page.getByRole('checkbox', { name: 'Hold reminders during quiet hours' }).uncheck();
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await page.getByText('Notification preferences saved.').first().waitFor();
  await expect(
    (async () => (await suite.rt.request('GET', '/api/preferences', { token })).body.quiet_hours)(),
  ).resolves.toBeNull();
  expect(suite.errors).toEqual([]);
});
