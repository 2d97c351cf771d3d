/**
 * The monitor's dead-letter actions in headless Chromium against the embedded start's services on a real PostgreSQL,
 * with real dead letters from a probe consumer: an admin discards one with a reason (kept, with
 * who and when) and replays every pending one of a topic at once.
 */
import { randomUUID } from 'node:crypto';
import type { Envelope, ServiceFactory } from '@taskstream/platform';
import { eventually } from '@taskstream/platform/test-support';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

const FLAKY = 'monitor-test.flaky';
const STALE = 'monitor-test.stale';
const CONSUMER = 'monitor-probe';

/** Fails while `broken`: each event it gets then becomes a dead letter after the retries. */
const probe = { broken: true, handled: new Set<string>() };
const probeService: ServiceFactory = () => ({
  // An AppId is required; task-api runs anyway, so the name adds nothing.
  name: 'task-api',
  subscriptions: [FLAKY, STALE].map((topic) => ({
    topic,
    consumer: CONSUMER,
    async handler(event: Envelope) {
      if (probe.broken) throw new Error(`probe is broken: cannot handle ${event.id}`);
      probe.handled.add(event.id);
    },
  })),
});

// Every service: the UI calls them all, and a missing one would be a console error.
const suite = browserSuite([...allServices, probeService]);

async function deadLetter(topic: string, token: string): Promise<{ id: string; eventId: string }> {
  const event: Envelope = {
    specversion: '1.0',
    id: randomUUID(),
    type: 'com.taskstream.test.probe',
    source: '/monitor.browser.test',
    time: new Date().toISOString(),
    data: {},
  };
  await suite.rt.ports.bus.publish([{ topic, partitionKey: event.id, event }]);
  const id = await eventually(async () => {
    const listed = await suite.rt.request('GET', `/api/admin/dlq?status=pending&topic=${topic}`, { token });
    return listed.body.items?.find((i: { event: Envelope }) => i.event.id === event.id)?.id as
      | string
      | undefined;
  });
  return { id, eventId: event.id };
}

test('an admin discards a dead letter with a reason and replays all of a topic from the monitor', async () => {
  const email = `monitor-admin-${randomUUID()}@example.com`;
  const password = 'monitor admin passphrase';
  const bootstrap = await suite.rt.auth.sign({ userId: randomUUID(), role: 'admin' });
  const created = await suite.rt.request('POST', '/api/admin/users', {
    token: bootstrap,
    body: { email, password, name: 'Monitor Admin', role: 'admin' },
  });
  expect(created.status).toBe(201);
  const login = await suite.rt.request('POST', '/api/auth/login', { body: { email, password } });
  const token = login.body.token as string;
  const adminId = login.body.user.id as string;

  probe.broken = true;
  const stale = await deadLetter(STALE, token);
  const flaky = [await deadLetter(FLAKY, token), await deadLetter(FLAKY, token)];

  const page = await suite.open('/#/login');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks', level: 1 }).waitFor();
  await page.goto(`${suite.rt.url}/#/admin/monitor`);
  await page.getByRole('heading', { name: 'Event monitor' }).waitFor();
  for (const { id } of [stale, ...flaky]) await page.locator(`tr[data-dead-letter-id="${id}"]`).waitFor();

  // Discard asks why; Cancel leaves the dead letter as it was.
  const staleRow = page.locator(`tr[data-dead-letter-id="${stale.id}"]`);
  const discardButton = staleRow.getByRole('button', {
    name: `Discard dead letter from ${STALE} for ${CONSUMER}`,
  });
  await discardButton.click();
  const dialog = page.getByRole('dialog', { name: `Discard the dead letter from ${STALE} (${CONSUMER})` });
  await dialog.waitFor();
  await expect(dialog.getByRole('button', { name: 'Discard' }).isDisabled()).resolves.toBe(true);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  expect((await suite.rt.request('GET', `/api/admin/dlq/${stale.id}`, { token })).body.status).toBe(
    'pending',
  );

  await discardButton.click();
  await dialog.getByLabel('Reason for discarding').fill('the task it was about is gone');
  await suite.screenshot(page, 'monitor-discard');
  await dialog.getByRole('button', { name: 'Discard' }).click();
  await page
    .locator('.toast', { hasText: `Discarded the dead letter from ${STALE} (${CONSUMER}).` })
    .waitFor();
  await staleRow.waitFor({ state: 'detached' });
  const discarded = (await suite.rt.request('GET', `/api/admin/dlq/${stale.id}`, { token })).body;
  expect(discarded).toMatchObject({
    status: 'discarded',
    status_reason: 'the task it was about is gone',
    status_by: adminId,
  });
  expect(Number.isNaN(Date.parse(discarded.status_at))).toBe(false);

  // Fixed: one click replays both dead letters of the topic, and they leave the list.
  probe.broken = false;
  await page.getByRole('button', { name: `Replay all from ${FLAKY}` }).click();
  await page.locator('.toast', { hasText: `Replayed 2 dead letters from ${FLAKY}.` }).waitFor();
  for (const { id } of flaky)
    await page.locator(`tr[data-dead-letter-id="${id}"]`).waitFor({ state: 'detached' });
  await page.getByText('No dead letters waiting.').waitFor();
  await eventually(async () => flaky.every(({ eventId }) => probe.handled.has(eventId)));
  // The discarded one was not replayed with them.
  expect(probe.handled.has(stale.eventId)).toBe(false);
  expect(suite.errors).toEqual([]);
}, 120_000);
