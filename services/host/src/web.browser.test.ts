/**
 * The web UI in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) against
 * the embedded start: the services of @taskstream/host on a real PostgreSQL, task-api serving
 * the built UI, plus one probe consumer (below) for a real dead letter. Steps that need a
 * service the host does not run yet are skipped and named "pending" (never passed without the
 * service). Every console error fails the step it shows in, unless the step causes and asserts it.
 * Screenshots of each main screen go to test-artifacts/screenshots/.
 *
 * BROWSER_TEST_SERVICES=repo adds the services of this repository that the host does not run yet,
 * to run the whole scenario before they are wired into the host.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditService } from '@taskstream/audit';
import { createNotificationService } from '@taskstream/notification';
import type { Envelope, ServiceFactory } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createRecurringService } from '@taskstream/recurring';
import { createSyncService } from '@taskstream/sync';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { allServices } from './index.js';
import { buildIfStale, CHROMIUM, CHROMIUM_ARGS } from './test-support/browser.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const screenshots = path.join(repoRoot, 'test-artifacts/screenshots');

const optional = {
  recurring: createRecurringService,
  notification: createNotificationService,
  audit: createAuditService,
  sync: createSyncService,
} satisfies Record<string, ServiceFactory>;
type Optional = keyof typeof optional;

const ENV = { SEED_DEMO_USERS: 'true' };

/** The topic of the probe consumer below: only the monitor step publishes here, nothing else listens. */
const PROBE_TOPIC = 'browser-test.probe';
const PROBE_CONSUMER = 'browser-probe';
/**
 * A consumer that fails while `broken` (so the real bus retries and dead-letters its event) and
 * works once "fixed": a consumer bug fixed in production, whose dead letter an admin replays.
 * It adds one subscription and nothing else to the runtime the host's services run in.
 */
const probe = { broken: true, handled: new Set<string>() };
const probeService: ServiceFactory = () => ({
  // An AppId is required; task-api always runs, so the name adds nothing to `running`.
  name: 'task-api',
  subscriptions: [
    {
      topic: PROBE_TOPIC,
      consumer: PROBE_CONSUMER,
      async handler(event: Envelope) {
        if (probe.broken) throw new Error(`probe is broken: cannot handle ${event.id}`);
        probe.handled.add(event.id);
      },
    },
  ],
});

// The runtime starts before the tests are declared, so that which services run decides which
// steps run (the host may wrap a factory, so its list alone does not tell).
mkdirSync(screenshots, { recursive: true });
buildIfStale();
let rt: TestRuntime = await startTestRuntime([...allServices, probeService], { env: ENV });
let running = new Set<string>(rt.services.map((s) => s.name));
const missing = (Object.keys(optional) as Optional[]).filter((name) => !running.has(name));
if (process.env.BROWSER_TEST_SERVICES === 'repo' && missing.length > 0) {
  await rt.close();
  rt = await startTestRuntime([...allServices, ...missing.map((name) => optional[name]), probeService], {
    env: ENV,
  });
  running = new Set(rt.services.map((s) => s.name));
}
const runs = (name: Optional) => running.has(name);

/** A test that needs these services, or a skipped one that says which are missing. */
function step(name: string, needs: Optional[], fn: () => Promise<void>, timeoutMs = 60_000) {
  const missing = needs.filter((n) => !runs(n));
  if (missing.length === 0) test(name, fn, timeoutMs);
  else test.skip(`${name} — pending: needs ${missing.join(', ')} in allServices`, fn);
}

/** Wall-clock `YYYY-MM-DDTHH:mm:ss` of an instant in a zone (what a datetime-local input holds). */
function wall(instant: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
}

/** Paths the UI calls on each optional service. */
const ENDPOINTS: Record<Optional, string[]> = {
  recurring: ['/api/recurrence/preview'],
  notification: ['/api/notifications', '/api/push/', '/api/mailbox'],
  audit: ['/api/audit-logs'],
  sync: ['/api/sync/events'],
};

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const addDays = (day: string, days: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

const ZONE = 'Europe/Berlin';
const PASSWORD = 'correct horse battery';

describe('web UI in Chromium against the embedded start', () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const consoleErrors: string[] = [];
  /** Content Security Policy violations: never allowed, whatever a step expects. */
  const cspViolations: string[] = [];
  /** Console errors a step causes on purpose and asserts (e.g. the 412 of a stale edit). */
  let allowed: RegExp[] = [];
  let first: Page;
  let second: Page;
  let admin: Page;
  const email = `walker-${Date.now()}@example.com`;
  const title = `Water the plants ${Date.now() % 100000}`;
  const mailTitle = `Call the landlord ${Date.now() % 100000}`;
  let taskId = '';
  /** The due day of the task, in Berlin. */
  let dueDay = '';
  let userToken = '';
  /** 404s of the endpoints of services that do not run: the UI shows "not available" for them. */
  let absent: RegExp[] = [];
  /** The URL of every WebSocket any page opened. */
  const socketUrls: string[] = [];

  async function open(name: string, options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      timezoneId: 'America/New_York',
      ...options,
    });
    contexts.push(context);
    // The page reports every violation of its CSP as an event; it is passed on as a console line.
    await context.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`),
      ),
    );
    const page = await context.newPage();
    page.on('console', (message) => {
      const text = message.text();
      // Chromium's own report ("Refused to ... Content Security Policy") and the event's line.
      if (/^CSP violation|Content Security Policy/.test(text)) cspViolations.push(`${name}: ${text}`);
      if (message.type() === 'error') consoleErrors.push(`${name}: ${text} (${message.location().url})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`${name}: uncaught ${error.message}`));
    page.on('websocket', (socket) => socketUrls.push(socket.url()));
    return page;
  }

  async function shot(page: Page, name: string) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  }
  const heading = (page: Page, text: string) => page.getByRole('heading', { level: 1, name: text }).waitFor();
  const connection = (page: Page) => page.locator('.connection');
  const taskItem = (page: Page, id: string) => page.locator(`li.task[data-task-id="${id}"]`);

  /**
   * Controls and links that have no accessible name: none from aria-labelledby, aria-label, a
   * label with text, a title, or (buttons, links, summaries) their own text. A select's options
   * are not its name, and neither is an empty label.
   */
  const unnamedControls = (page: Page) =>
    page.evaluate(() => {
      const text = (el: Element | null) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
      const nameOf = (el: Element) =>
        (el.getAttribute('aria-labelledby') ?? '')
          .split(/\s+/)
          .filter(Boolean)
          .map((id) => text(document.getElementById(id)))
          .join(' ')
          .trim() ||
        (el.getAttribute('aria-label') ?? '').trim() ||
        [...((el as HTMLInputElement).labels ?? [])].map(text).join(' ').trim() ||
        (el.getAttribute('title') ?? '').trim() ||
        (el.matches('button, a, summary') ? text(el) : '') ||
        (el.matches('input[type="submit"], input[type="button"]') ? (el as HTMLInputElement).value : '');
      return [
        ...document.querySelectorAll(
          'input:not([type="hidden"]), select, textarea, button, a[href], summary',
        ),
      ]
        .filter((el) => !nameOf(el))
        .map((el) => el.outerHTML.slice(0, 120));
    });
  /** A page of its own, signed in with `token` before the app loads. */
  async function signedIn(name: string, token: string, options: Parameters<Browser['newContext']>[0] = {}) {
    const page = await open(name, options);
    await page.addInitScript((t) => localStorage.setItem('taskstream.token', t), token);
    return page;
  }
  /** Console errors of failed requests with this status (a step that causes them asserts what the UI does). */
  const failedWith = (status: number) => new RegExp(`status of ${status}`);

  async function logIn(page: Page, address: string, password: string) {
    await page.goto(`${rt.url}/#/login`);
    await page.getByLabel('Email', { exact: true }).fill(address);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await heading(page, 'Tasks');
  }

  beforeAll(async () => {
    absent = (Object.keys(ENDPOINTS) as Optional[])
      .filter((name) => !runs(name))
      .flatMap((name) =>
        ENDPOINTS[name].map(
          (endpoint) => new RegExp(`status of 404 .*\\(${escapeRegExp(rt.url + endpoint)}`),
        ),
      );
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 120_000);

  afterEach(() => {
    const unexpected = consoleErrors.filter(
      (e) => ![...absent, ...allowed].some((pattern) => pattern.test(e)),
    );
    consoleErrors.length = 0;
    allowed = [];
    const violations = cspViolations.splice(0);
    expect(unexpected).toEqual([]);
    expect(violations).toEqual([]);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await rt?.close();
  });

  test('registers in one browser and logs in as the same user in a second', async () => {
    first = await open('first');
    const page = await first.goto(`${rt.url}/`);
    // The UI runs under its CSP (every step checks that nothing violates it) and cannot be framed.
    const csp = (await page!.allHeaders())['content-security-policy'] ?? '';
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    await heading(first, 'Log in');
    await shot(first, 'login');
    await first.getByRole('link', { name: 'Register' }).click();
    await heading(first, 'Create an account');
    await shot(first, 'register');
    await first.getByLabel('Name').fill('Walker');
    await first.getByLabel('Email').fill(email);
    await first.getByLabel('Password').fill(PASSWORD);
    await first.getByRole('button', { name: 'Create account' }).click();
    await heading(first, 'Tasks');
    await first.getByText('No tasks yet').waitFor();
    userToken = (await first.evaluate(() => localStorage.getItem('taskstream.token'))) ?? '';
    expect(userToken.split('.')).toHaveLength(3);

    second = await open('second');
    await logIn(second, email, PASSWORD);
    const expected = runs('sync') ? 'connected' : 'unavailable';
    for (const page of [first, second]) {
      await page.locator(`.connection[data-state="${expected}"]`).waitFor({ timeout: 15_000 });
    }
    // Live means the server took the token as the bearer subprotocol: it refuses one in the URL.
    if (runs('sync')) expect(socketUrls.filter((u) => new URL(u).pathname === '/ws/tasks')).toHaveLength(2);
    expect(await connection(first).textContent()).toContain(runs('sync') ? 'Live' : 'not available');
  });

  test('creates a recurring task with a reminder, previewing the next occurrences in its time zone', async () => {
    await first.getByRole('link', { name: 'New task' }).click();
    await heading(first, 'New task');
    await first.getByLabel('Title', { exact: true }).fill(title);
    await first.getByLabel('Description').fill('Both balconies, not the cactus.');
    await first.getByLabel('Priority').selectOption('high');
    await first.getByLabel('Tags').fill('home, plants');
    // Due tomorrow at 09:00 in Berlin, while the browser itself runs on New York time.
    const tomorrow = wall(new Date(Date.now() + 86_400_000), ZONE).slice(0, 10);
    await first.getByLabel('Time zone').selectOption(ZONE);
    await first.getByLabel('Date and time').fill(`${tomorrow}T09:00`);
    await first.getByLabel('Repeats').selectOption('daily');

    const preview = first.locator('.preview');
    if (runs('recurring')) {
      await preview.locator('li[data-iso]').nth(4).waitFor({ timeout: 10_000 });
      const isos = await preview
        .locator('li[data-iso]')
        .evaluateAll((items) => items.map((i) => i.getAttribute('data-iso')!));
      expect(isos).toHaveLength(5);
      const walls = isos.map((iso) => wall(new Date(iso), ZONE));
      expect(walls[0]).toBe(`${tomorrow}T09:00:00`);
      // Consecutive days, each at 09:00 Berlin time whatever the offset that day.
      expect(walls).toEqual([0, 1, 2, 3, 4].map((n) => `${addDays(tomorrow, n)}T09:00:00`));
    } else {
      // The preview lives in the recurring service: without it the form says so and still works.
      await preview.getByText('The preview is not available.').waitFor();
    }

    await first.getByRole('button', { name: 'Add reminder' }).click();
    await first.getByLabel('When').selectOption('at');
    // Fires a few seconds after the form is sent; channel: in the app (the default).
    const fireAt = new Date(Date.now() + 20_000);
    await first.getByLabel(/^Time \(/).fill(wall(fireAt, ZONE));
    expect(await first.getByRole('checkbox', { name: 'In the app' }).isChecked()).toBe(true);
    await shot(first, 'task-form');

    await first.getByRole('button', { name: 'Create task' }).click();
    await heading(first, 'Tasks');
    const item = first.locator('li.task', { hasText: title });
    await item.waitFor();
    taskId = (await item.getAttribute('data-task-id'))!;
    const due = await item.getAttribute('data-due');
    expect(wall(new Date(due!), ZONE)).toBe(`${tomorrow}T09:00:00`);
    dueDay = tomorrow;
    expect(await item.textContent()).toContain('Every day');
    expect(await item.textContent()).toContain('1 reminder');

    const stored = await rt.request('GET', `/api/tasks/${taskId}`, { token: userToken });
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({
      title,
      priority: 'high',
      tags: ['home', 'plants'],
      time_zone: ZONE,
      recurrence: { rule: 'daily', anchor: 'due' },
      reminders: [{ channels: ['in_app'] }],
    });
    expect(
      Math.abs(Date.parse(stored.body.reminders[0].at) - Math.floor(fireAt.getTime() / 1000) * 1000),
    ).toBeLessThan(1000);
    await shot(first, 'tasks');
  });

  // Made here so that its email is sent while the in-app reminder is awaited; checked in the mailbox later.
  step('creates a task whose reminder goes by email a few seconds later', ['notification'], async () => {
    await first.getByRole('link', { name: 'New task' }).click();
    await heading(first, 'New task');
    await first.getByLabel('Title', { exact: true }).fill(mailTitle);
    await first.getByRole('button', { name: 'Add reminder' }).click();
    await first.getByLabel('When').selectOption('at');
    // The form's zone is the browser's own (New York) unless one is chosen.
    await first.getByLabel(/^Time \(/).fill(wall(new Date(Date.now() + 8_000), 'America/New_York'));
    await first.getByRole('checkbox', { name: 'In the app' }).uncheck();
    await first.getByRole('checkbox', { name: 'Email' }).check();
    await first.getByRole('button', { name: 'Create task' }).click();
    await heading(first, 'Tasks');
    const item = first.locator('li.task', { hasText: mailTitle });
    await item.waitFor();
    const stored = await rt.request('GET', `/api/tasks/${await item.getAttribute('data-task-id')}`, {
      token: userToken,
    });
    expect(stored.body.reminders).toEqual([expect.objectContaining({ channels: ['email'] })]);
  });

  step(
    'a second browser context of the same user shows the new task without a reload',
    ['sync'],
    async () => {
      await taskItem(second, taskId).waitFor({ timeout: 15_000 });
      expect(await taskItem(second, taskId).textContent()).toContain(title);
    },
  );

  step(
    'the in-app reminder appears as a toast, in the unread count and in the inbox',
    ['notification', 'sync'],
    async () => {
      const toast = first.locator('.toast[data-kind="reminder"]', { hasText: title });
      await toast.waitFor({ timeout: 60_000 });
      await shot(first, 'reminder-toast');
      // The toast sits in a polite live region.
      expect(await toast.evaluate((el) => el.closest('[aria-live]')?.getAttribute('aria-live'))).toBe(
        'polite',
      );
      const badge = first.getByRole('link', { name: /Inbox, \d+ unread/ });
      await badge.waitFor();
      await first.getByRole('link', { name: /^Inbox/ }).click();
      await heading(first, 'Inbox');
      const entry = first.locator(`li.notification[data-task-id="${taskId}"]`);
      await entry.waitFor();
      expect(await entry.getAttribute('class')).toContain('unread');
      await shot(first, 'inbox');
      await entry.getByRole('button', { name: /read$/ }).click();
      await first.locator(`li.notification[data-task-id="${taskId}"]:not(.unread)`).waitFor();
      await eventually(async () => {
        const inbox = await rt.request('GET', '/api/notifications', { token: userToken });
        return inbox.body.items.find((n: { task_id: string }) => n.task_id === taskId)?.read === true;
      });
      await first.getByRole('link', { name: 'Tasks', exact: true }).click();
      await heading(first, 'Tasks');
    },
    90_000,
  );

  test('completing the task marks it done at once and the server agrees', async () => {
    const item = taskItem(first, taskId);
    await item.getByRole('checkbox', { name: `Done: ${title}` }).check();
    await first.locator(`li.task[data-task-id="${taskId}"][data-status="completed"]`).waitFor();
    await eventually(
      async () =>
        (await rt.request('GET', `/api/tasks/${taskId}`, { token: userToken })).body.status === 'completed',
    );
  });

  step(
    'the next occurrence of the completed task appears in both browsers',
    ['recurring', 'sync'],
    async () => {
      // The next day at 09:00 Berlin time (24 h later, or 23/25 h across a clock change).
      const nextWall = `${addDays(dueDay, 1)}T09:00:00`;
      for (const page of [first, second]) {
        const occurrence = page.locator('li.task[data-occurrence="2"]', { hasText: title });
        await occurrence.waitFor({ timeout: 20_000 });
        expect(wall(new Date((await occurrence.getAttribute('data-due'))!), ZONE)).toBe(nextWall);
        expect(await occurrence.getAttribute('data-status')).toBe('pending');
        await page.locator(`li.task[data-task-id="${taskId}"][data-status="completed"]`).waitFor();
      }
      await shot(first, 'tasks-after-completion');
    },
  );

  step('an edit based on a stale version rolls back and shows the current task', ['sync'], async () => {
    // The second browser opens the editor, then the first renames the task.
    await second.goto(`${rt.url}/#/tasks/${taskId}`);
    await heading(second, 'Edit task');
    await second.getByLabel('Title', { exact: true }).fill(`${title} (second)`);
    await first.goto(`${rt.url}/#/tasks/${taskId}`);
    await heading(first, 'Edit task');
    await first.getByLabel('Title', { exact: true }).fill(`${title} (first)`);
    await first.getByRole('button', { name: 'Save changes' }).click();
    await heading(first, 'Tasks');
    await taskItem(first, taskId).getByText(`${title} (first)`).waitFor();

    // The second saves on top of the old version: If-Match fails (412), the list rolls back.
    allowed.push(failedWith(412));
    await second.getByRole('button', { name: 'Save changes' }).click();
    await heading(second, 'Tasks');
    await second.locator('.toast[data-kind="error"]', { hasText: 'Could not save' }).waitFor();
    await taskItem(second, taskId).getByText(`${title} (first)`).waitFor();
    const stored = await rt.request('GET', `/api/tasks/${taskId}`, { token: userToken });
    expect(stored.body.title).toBe(`${title} (first)`);
  });

  step('an offline browser resumes where it stopped and gets what it missed', ['sync'], async () => {
    await second.context().setOffline(true);
    await second.locator('.connection[data-state="offline"]').waitFor();
    const created = await rt.request('POST', '/api/tasks', {
      token: userToken,
      body: { title: `Made while offline ${taskId.slice(0, 4)}` },
    });
    expect(created.status).toBe(201);
    await second.waitForTimeout(300);
    expect(await taskItem(second, created.body.id).count()).toBe(0);
    await second.context().setOffline(false);
    await second.locator('.connection[data-state="connected"]').waitFor({ timeout: 15_000 });
    await taskItem(second, created.body.id).waitFor({ timeout: 15_000 });
    // Deleting in one browser removes it from the other.
    await taskItem(first, created.body.id).waitFor();
    await taskItem(first, created.body.id).getByRole('button', { name: 'Delete' }).click();
    await taskItem(second, created.body.id).waitFor({ state: 'detached', timeout: 15_000 });
  });

  test('filters and sorts the task list', async () => {
    await first.goto(`${rt.url}/#/tasks`);
    await heading(first, 'Tasks');
    await first.getByLabel('Status').selectOption('completed');
    await first.locator('ul.task-list[aria-busy="false"]').waitFor({ state: 'attached' });
    const statuses = await first
      .locator('li.task')
      .evaluateAll((items) => items.map((i) => i.getAttribute('data-status')));
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(['completed']));
    await first.getByLabel('Status').selectOption('');
    await first.getByLabel('Search').fill('no task has this text');
    await first.getByText('No tasks match these filters.').waitFor();
    await first.getByRole('button', { name: 'Clear filters' }).click();
    await first.locator(`li.task[data-task-id="${taskId}"]`).waitFor();
    await first.getByLabel('Sort', { exact: true }).selectOption('due_date');
    await first.locator('ul.task-list[aria-busy="false"]').waitFor({ state: 'attached' });
    const dues = await first
      .locator('li.task')
      .evaluateAll((items) => items.map((i) => i.getAttribute('data-due')));
    const dated = dues.filter((d): d is string => Boolean(d)).map((d) => Date.parse(d));
    expect(dated).toEqual([...dated].sort((a, b) => a - b));
  });

  test('a complete and a delete the server refuses roll back with a message; a completed task reopens', async () => {
    const name = `Fix the gate ${Date.now() % 100000}`;
    const made = await rt.request('POST', '/api/tasks', { token: userToken, body: { title: name } });
    expect(made.status).toBe(201);
    const id = made.body.id as string;
    const stored = async () => (await rt.request('GET', `/api/tasks/${id}`, { token: userToken })).body;
    await first.goto(`${rt.url}/#/tasks`);
    await heading(first, 'Tasks');
    await taskItem(first, id).waitFor({ timeout: 15_000 });
    const shown = (state: string) => first.locator(`li.task[data-task-id="${id}"]${state}`);
    const box = taskItem(first, id).getByRole('checkbox', { name: `Done: ${name}` });
    const errorToast = (text: string) => first.locator('.toast[data-kind="error"]', { hasText: text });
    allowed.push(failedWith(500), failedWith(409));

    /** Holds the next `method` request to `path` until released, then answers it with `status`. */
    async function refuseNext(method: string, path: string, status: number, message: string) {
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      await first.route(
        `${rt.url}${path}`,
        async (route) => {
          // Nothing else requests this path meanwhile; if it did, the step would time out.
          if (route.request().method() !== method) return route.fallback();
          await held;
          await route.fulfill({ status, json: { error: { code: 'test_refusal', message } } });
        },
        { times: 1 },
      );
      return release;
    }

    // Complete: shown done at once, then back to open when the server answers 500.
    let release = await refuseNext('POST', `/api/tasks/${id}/complete`, 500, 'The database is unavailable.');
    await box.check();
    await shown('[data-status="completed"][aria-busy="true"]').waitFor();
    release();
    await errorToast(`Could not complete “${name}”: The database is unavailable.`).waitFor();
    await shown('[data-status="pending"][aria-busy="false"]').waitFor();
    expect(await box.isChecked()).toBe(false);
    expect((await stored()).status).toBe('pending');

    // Completed for real, then reopened through the UI.
    await box.check();
    await shown('[data-status="completed"][aria-busy="false"]').waitFor();
    await eventually(async () => (await stored()).status === 'completed');
    await box.uncheck();
    await shown('[data-status="pending"][aria-busy="false"]').waitFor();
    await eventually(async () => (await stored()).status === 'pending');
    expect(await box.isChecked()).toBe(false);

    // Delete: gone from the list at once, back when the server answers 409.
    release = await refuseNext('DELETE', `/api/tasks/${id}`, 409, 'The task is being changed elsewhere.');
    await taskItem(first, id).getByRole('button', { name: 'Delete' }).click();
    await taskItem(first, id).waitFor({ state: 'detached' });
    release();
    await errorToast(`Could not delete “${name}”: The task is being changed elsewhere.`).waitFor();
    await shown('[data-status="pending"][aria-busy="false"]').waitFor();
    expect((await stored()).title).toBe(name);
  });

  step(
    'an admin sees the audit rows of the task, verifies the chain and exports them',
    ['audit'],
    async () => {
      admin = await open('admin');
      await logIn(admin, 'admin@example.com', 'admin-password');
      const adminToken = (await admin.evaluate(() => localStorage.getItem('taskstream.token')))!;
      await admin.getByRole('link', { name: 'Audit log' }).click();
      await heading(admin, 'Audit log');
      await admin.getByLabel('Task id').fill(taskId);
      const actions = async () => {
        await admin.getByRole('button', { name: 'Search' }).click();
        await admin.locator('table.audit-table[aria-busy="false"]').waitFor();
        return admin
          .locator(`tr[data-task-id="${taskId}"]`)
          .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
      };
      const expected = ['task.created', 'task.completed'];
      let shown: (string | null)[] = [];
      const seen = await eventually(
        async () => {
          shown = await actions();
          return expected.every((a) => shown.includes(a)) ? shown : undefined;
        },
        45_000,
        500,
      ).catch(async (err) => {
        const stored = await rt.request('GET', `/api/audit-logs?task_id=${taskId}`, { token: adminToken });
        throw new Error(
          `${err}; the page shows ${JSON.stringify(shown)}; the API has ${JSON.stringify(stored.body?.items?.map((r: { action: string }) => r.action) ?? stored.body)}`,
        );
      });
      expect(seen).toEqual(expect.arrayContaining(expected));
      await admin.getByRole('button', { name: 'Verify hash chain' }).click();
      await admin.getByText(/Chain intact: \d+ rows checked/).waitFor();
      const [download] = await Promise.all([
        admin.waitForEvent('download'),
        admin.getByRole('link', { name: 'Export CSV' }).click(),
      ]);
      const file = await download.path();
      const { readFile } = await import('node:fs/promises');
      const csv = await readFile(file, 'utf8');
      expect(csv.split('\r\n')[0]).toContain('event_id');
      expect(csv).toContain(taskId);
      await shot(admin, 'audit');
    },
    60_000,
  );

  test('the monitor shows the task-events rate and a real dead letter, and replays it from the UI', async () => {
    const login = await rt.request('POST', '/api/auth/login', {
      body: { email: 'admin@example.com', password: 'admin-password' },
    });
    const adminToken = login.body.token as string;
    admin ??= await signedIn('admin', adminToken);
    await admin.goto(`${rt.url}/#/admin/monitor`);
    await heading(admin, 'Event monitor');
    const dlqTile = admin.locator('[data-stat="dlq"]');
    await dlqTile.waitFor();
    const before = Number(await dlqTile.textContent());

    // A live event the probe cannot handle: retried, then dead-lettered by the real bus.
    probe.broken = true;
    const poison: Envelope = {
      specversion: '1.0',
      id: randomUUID(),
      type: 'com.taskstream.test.probe',
      source: '/web.browser.test',
      time: new Date().toISOString(),
      data: { note: 'the probe consumer fails on this until it is fixed' },
    };
    await rt.ports.bus.publish([{ topic: PROBE_TOPIC, partitionKey: PROBE_CONSUMER, event: poison }]);
    const letter = await eventually(async () => {
      const listed = await rt.request('GET', `/api/admin/dlq?status=pending&consumer=${PROBE_CONSUMER}`, {
        token: adminToken,
      });
      return listed.body.items?.find((i: { event: Envelope }) => i.event.id === poison.id) as
        | { id: string; reason: string }
        | undefined;
    });
    expect(letter.reason).toBe(`probe is broken: cannot handle ${poison.id}`);
    // The monitor sees the size grow and lists the new dead letter without a reload.
    const row = admin.locator(`tr[data-dead-letter-id="${letter.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await dlqTile.getByText(String(before + 1), { exact: true }).waitFor();
    expect(await row.textContent()).toContain(letter.reason);

    // Task changes raise the rate of task-events (averaged over a minute) above zero.
    for (const n of [1, 2, 3]) {
      const made = await rt.request('POST', '/api/tasks', { token: userToken, body: { title: `Rate ${n}` } });
      expect(made.status).toBe(201);
    }
    // One reading of the chart (it redraws each second): the task-events value kept, shown and spoken.
    const reading = () =>
      admin.locator('figure.chart', { has: admin.locator('svg[data-chart="eps"]') }).evaluate((figure) => {
        const row = [...figure.querySelectorAll('tr')].find(
          (tr) => tr.querySelector('th')?.textContent?.trim() === 'task-events',
        );
        const label = figure.querySelector('svg[data-chart="eps"]')?.getAttribute('aria-label') ?? '';
        return {
          value: Number(row?.querySelector('td')?.getAttribute('data-value') ?? 0),
          shown: Number.parseFloat(row?.querySelector('td')?.textContent ?? ''),
          spoken: Number(/task-events ([0-9.]+)/.exec(label)?.[1]),
        };
      });
    const rate = await eventually(
      async () => {
        const r = await reading();
        return r.value > 0 ? r : undefined;
      },
      10_000,
      200,
    );
    // Read and heard as that rate to within rounding: not 0.0, nor 0.1 for 0.05.
    expect(Math.abs(rate.shown - rate.value) / rate.value).toBeLessThan(0.05);
    expect(Math.abs(rate.spoken - rate.value) / rate.value).toBeLessThan(0.05);
    expect(await unnamedControls(admin)).toEqual([]);
    await shot(admin, 'monitor-server');

    // Fixed: the replay from the UI reaches the probe, and the dead letter leaves the list.
    probe.broken = false;
    await row
      .getByRole('button', { name: `Replay dead letter from ${PROBE_TOPIC} for ${PROBE_CONSUMER}` })
      .click();
    await admin
      .locator('.toast', { hasText: `Replayed the dead letter from ${PROBE_TOPIC} (${PROBE_CONSUMER}).` })
      .waitFor();
    await row.waitFor({ state: 'detached' });
    await dlqTile.getByText(String(before), { exact: true }).waitFor({ timeout: 10_000 });
    await eventually(async () => probe.handled.has(poison.id));
    const replayed = await rt.request('GET', `/api/admin/dlq?status=replayed&consumer=${PROBE_CONSUMER}`, {
      token: adminToken,
    });
    expect(replayed.body.items.map((i: { id: string }) => i.id)).toContain(letter.id);
  });

  test('the monitor charts what it polls each second and replays a dead letter (admin API stubbed in the browser)', async () => {
    const login = await rt.request('POST', '/api/auth/login', {
      body: { email: 'admin@example.com', password: 'admin-password' },
    });
    const page = await signedIn('monitor', login.body.token as string);
    // Only /api/admin/* is answered by the browser; everything else is the real server.
    let polls = 0;
    const replayed: string[] = [];
    const time = new Date().toISOString();
    let letters = [
      {
        id: 'dl-1',
        topic: 'task-events',
        consumer: 'audit',
        reason: 'invalid task.updated event: data.task_id: Invalid UUID',
        attempts: 4,
        first_failed_at: time,
        last_failed_at: time,
        event: {},
        status: 'pending',
      },
    ];
    await page.route(/\/api\/admin\/stats$/, (route) => {
      polls++;
      return route.fulfill({
        json: {
          topics: {
            'task-events': { events_per_second: polls % 4, total: polls * 2 },
            'task-updates': { events_per_second: (polls + 2) % 4, total: polls * 2 },
          },
          consumers: { audit: { lag: polls % 3 }, recurring: { lag: 0 } },
          dlq_size: letters.length,
          outbox_backlog: polls % 2,
        },
      });
    });
    await page.route(/\/api\/admin\/dlq(\?.*)?$/, (route) =>
      route.fulfill({ json: { items: letters, next_cursor: null } }),
    );
    await page.route(/\/api\/admin\/dlq\/[^/]+\/replay$/, (route) => {
      replayed.push(route.request().url().split('/').at(-2)!);
      letters = [];
      return route.fulfill({ status: 202, body: '' });
    });

    await page.goto(`${rt.url}/#/admin/monitor`);
    await heading(page, 'Event monitor');
    // A line per topic that grows a point each second.
    await page.waitForFunction(
      () =>
        (document.querySelector('svg[data-chart="eps"] path')?.getAttribute('d')?.split('L').length ?? 0) >=
        4,
      undefined,
      {
        timeout: 10_000,
      },
    );
    expect(
      await page
        .locator('svg[data-chart="eps"] path')
        .evaluateAll((paths) => paths.map((p) => p.getAttribute('data-series'))),
    ).toEqual(['task-events', 'task-updates']);
    expect(polls).toBeGreaterThanOrEqual(4);
    expect(await page.locator('svg[data-chart="lag"]').getAttribute('aria-label')).toMatch(
      /^Consumer lag, latest: audit \d, recurring 0 events$/,
    );
    await page.locator('[data-dead-letter-id="dl-1"]').waitFor();
    await shot(page, 'monitor');

    await page.getByRole('button', { name: 'Replay dead letter from task-events for audit' }).click();
    await page.locator('.toast', { hasText: 'Replayed the dead letter from task-events (audit).' }).waitFor();
    await page.getByText('No dead letters waiting.').waitFor();
    expect(replayed).toEqual(['dl-1']);
    await page.locator('[data-stat="dlq"]', { hasText: /^0$/ }).waitFor();
  });

  step('the reminder email is kept in the local mailbox (no SMTP_URL)', ['notification'], async () => {
    await first.getByRole('link', { name: 'Mailbox' }).click();
    await heading(first, 'Mailbox');
    const subject = `Reminder: ${mailTitle}`;
    const mail = first.locator('.mail-list > li', { hasText: subject });
    // The screen loads once; Refresh asks again until the reminder has fired and been kept.
    await eventually(
      async () => {
        if ((await mail.count()) > 0) return true;
        await first.getByRole('button', { name: 'Refresh' }).click();
        await first.waitForTimeout(500);
        return false;
      },
      30_000,
      0,
    );
    expect(await mail.count()).toBe(1);
    expect(await mail.locator('summary').textContent()).toContain(`to ${email}`);
    await mail.locator('summary').click();
    const body = mail.locator('.mail-body');
    await body.waitFor();
    const html = mail.locator('iframe.mail-html');
    const content = (await html.count())
      ? await html.contentFrame().locator('body').textContent()
      : await body.locator('pre').textContent();
    expect(content).toContain(mailTitle);
    expect(await first.getByText('No mail yet.').count()).toBe(0);
    await shot(first, 'mailbox');
  });

  step(
    'turning on push reminders where the browser cannot subscribe says why, in an alert, without console errors',
    ['notification'],
    async () => {
      const page = await signedIn('push', userToken, { permissions: ['notifications'] });
      await page.goto(`${rt.url}/#/settings`);
      await heading(page, 'Settings');
      const status = page.locator('#push-status');
      await status.getByText('Push reminders are off for this browser.').waitFor();
      expect(await page.evaluate(() => Notification.permission)).toBe('granted');
      // Chrome refuses a push subscription in an off-the-record profile, which every Playwright
      // context is, and logs this itself; a page can neither prevent nor detect it (ADR 0010).
      allowed.push(/does not support the Push API in incognito mode/);
      await page.getByRole('button', { name: 'Turn on push reminders' }).click();
      const alert = page
        .getByRole('alert')
        .filter({ hasText: 'This browser could not set up push messages' });
      await alert.waitFor({ timeout: 30_000 });
      expect(await alert.textContent()).toContain('reminders still reach you in the app and by email');
      expect(await status.textContent()).toBe('Push reminders are off for this browser.');
      expect(await page.getByRole('button', { name: 'Turn on push reminders' }).isEnabled()).toBe(true);
      const me = await rt.request('GET', '/api/auth/me', { token: userToken });
      const stored = await rt.pool.query('SELECT endpoint FROM push_subscriptions WHERE user_id = $1', [
        me.body.user.id,
      ]);
      expect(stored.rows).toEqual([]);
      await shot(page, 'settings');
    },
  );

  if (!runs('notification'))
    test('without the notification service, the mailbox and push opt-in say they are not available', async () => {
      await first.getByRole('link', { name: 'Mailbox' }).click();
      await heading(first, 'Mailbox');
      await first.getByText('The local mailbox is not available.').waitFor();
      await shot(first, 'mailbox');
      await first.getByRole('link', { name: 'Settings' }).click();
      await heading(first, 'Settings');
      await first.getByText('Web Push is not available on this server.').waitFor();
      await shot(first, 'settings');
    });

  test('every control has an accessible name at desktop size: task form, edit form, audit viewer, monitor', async () => {
    const unnamed: Record<string, string[]> = {};
    const check = async (page: Page, screen: string) => {
      const found = await unnamedControls(page);
      if (found.length > 0) unnamed[screen] = found;
    };
    // The new-task form with its optional parts shown: a due date, a reminder of each kind, and
    // each recurrence that adds fields of its own.
    await first.goto(`${rt.url}/#/tasks/new`);
    await heading(first, 'New task');
    await first.getByLabel('Date and time').fill(`${addDays(wall(new Date(), ZONE).slice(0, 10), 3)}T09:00`);
    await first.getByRole('button', { name: 'Add reminder' }).click();
    await first.getByRole('button', { name: 'Add reminder' }).click();
    await first.locator('#reminder-1-kind').selectOption('at');
    for (const kind of ['weekly-days', 'monthly-day', 'monthly-nth', 'custom']) {
      await first.getByLabel('Repeats').selectOption(kind);
      await check(first, `task form (${kind})`);
    }
    await first.getByRole('link', { name: 'Cancel' }).click();
    await heading(first, 'Tasks');

    await first.goto(`${rt.url}/#/tasks/${taskId}`);
    await heading(first, 'Edit task');
    await first.getByLabel('Title', { exact: true }).waitFor();
    await check(first, 'edit form');
    await shot(first, 'task-edit');
    await first.goto(`${rt.url}/#/tasks`);
    await heading(first, 'Tasks');

    admin ??= await signedIn(
      'admin',
      (
        await rt.request('POST', '/api/auth/login', {
          body: { email: 'admin@example.com', password: 'admin-password' },
        })
      ).body.token,
    );
    if (runs('audit')) {
      await admin.goto(`${rt.url}/#/admin/audit`);
      await heading(admin, 'Audit log');
      await admin.getByLabel('Task id').fill(taskId);
      await admin.getByRole('button', { name: 'Search' }).click();
      await admin.locator(`tr[data-task-id="${taskId}"]`).first().waitFor();
      await check(admin, 'audit viewer');
    }
    await admin.goto(`${rt.url}/#/admin/monitor`);
    await heading(admin, 'Event monitor');
    await admin.locator('[data-stat="dlq"]').waitFor();
    await check(admin, 'monitor');
    expect(unnamed).toEqual({});
  });

  test('a phone-sized screen fits without sideways scrolling, and the keyboard reaches everything', async () => {
    const phone = await signedIn('phone', userToken, {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    await phone.goto(`${rt.url}/#/tasks`);
    await heading(phone, 'Tasks');
    await phone.locator('li.task').first().waitFor();
    const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(phone, 'tasks-phone');
    await phone.goto(`${rt.url}/#/tasks/new`);
    await heading(phone, 'New task');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(phone, 'task-form-phone');

    // Keyboard: on a fresh load the first Tab reaches the skip link, which moves focus to the content.
    await phone.goto(`${rt.url}/#/tasks`);
    await phone.reload();
    await heading(phone, 'Tasks');
    await phone.keyboard.press('Tab');
    expect(await phone.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await phone.keyboard.press('Enter');
    expect(await phone.evaluate(() => document.activeElement?.id)).toBe('main-content');
    expect(await unnamedControls(phone)).toEqual([]);
  });

  step(
    'no page ever put a token into a WebSocket URL (they end up in logs and history)',
    ['sync'],
    async () => {
      const live = socketUrls.filter((u) => new URL(u).pathname === '/ws/tasks');
      // Two sign-ins, the offline browser's resume, the later pages: each opened its own.
      expect(live.length).toBeGreaterThanOrEqual(3);
      for (const url of live) {
        expect(new URL(url).searchParams.has('token')).toBe(false);
        expect(url).not.toMatch(/eyJ/); // how every JWT's header starts, base64url
      }
    },
  );
});
