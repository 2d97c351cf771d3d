/**
 * The admin topic browser in headless Chromium on the embedded runtime: pick a topic, page by
 * position, filter by key, start at a time, open a message for its headers and CloudEvent.
 */
import { randomUUID } from 'node:crypto';
import type { Envelope } from '@taskstream/platform';
import { signUp } from '@taskstream/platform/test-support';
import type { Page } from 'playwright-core';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

const suite = browserSuite(allServices);
const PASSWORD = 'correct horse battery';

async function logIn(page: Page, email: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();
}

test('an admin browses a topic by position, key and time and opens a message', async () => {
  const topic = `browse-${randomUUID().slice(0, 8)}`;
  const ids: string[] = [];
  for (let n = 0; n < 30; n++) {
    const key = n % 5 === 0 ? 'wallet-five' : 'wallet-other';
    const event: Envelope = {
      specversion: '1.0',
      id: randomUUID(),
      type: 'com.taskstream.test.browsed',
      source: '/test',
      time: new Date().toISOString(),
      data: { user_id: randomUUID(), n },
    };
    ids.push(event.id);
    await suite.rt.ports.bus.publish([{ topic, partitionKey: key, event }]);
  }
  const email = `topics-${Date.now()}@example.com`;
  const { id } = await signUp(suite.rt, { email, password: PASSWORD, name: 'Operator' });
  await suite.rt.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [id]);

  const page = await suite.open('/');
  await logIn(page, email);
  await page.getByRole('link', { name: 'Topics' }).click();
  await page.getByRole('heading', { name: 'Topics' }).waitFor();
  await page.getByLabel('Topic', { exact: true }).selectOption(topic);

  const rows = page.locator('li.topic-message');
  await rows.nth(24).waitFor();
  expect(await rows.count()).toBe(25);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('Page 2').waitFor();
  // The page label moves before the second page's messages arrive: wait for the list itself.
  await rows.nth(5).waitFor({ state: 'detached' });
  await expect(rows.count()).resolves.toBe(5);
  await page.getByRole('button', { name: 'Previous' }).click();
  await rows.nth(24).waitFor();

  // Only one key: every fifth message.
  await page.getByLabel('Key', { exact: true }).fill('wallet-five');
  await page.getByRole('button', { name: 'Show messages' }).click();
  await page.locator('li.topic-message[data-key="wallet-other"]').first().waitFor({ state: 'detached' });
  await expect(rows.count()).resolves.toBe(6);

  // Opened: the CloudEvent as it is on the topic.
  await rows.first().locator('summary').click();
  const cloudEvent = rows.first().locator('pre.cloudevent');
  await cloudEvent.waitFor();
  expect(JSON.parse((await cloudEvent.textContent()) ?? '{}')).toMatchObject({
    id: ids[0],
    specversion: '1.0',
  });
  await suite.screenshot(page, 'admin-topics');

  // From a time after everything: nothing there.
  await page.getByLabel('Key', { exact: true }).fill('');
  await page.getByLabel('From time').fill('2099-01-01T00:00');
  await page.getByRole('button', { name: 'Show messages' }).click();
  await page.getByText('No messages here.').waitFor();
  expect(suite.errors).toEqual([]);
});

test('the topic browser is for admins only', async () => {
  const email = `not-admin-${Date.now()}@example.com`;
  await signUp(suite.rt, { email, password: PASSWORD, name: 'User' });
  const page = await suite.open('/');
  await logIn(page, email);
  expect(await page.getByRole('link', { name: 'Topics' }).count()).toBe(0);
  await page.goto(`${suite.rt.url}/#/admin/topics`);
  await page.getByRole('heading', { name: 'Admins only' }).waitFor();
  expect(suite.errors).toEqual([]);
});
