/**
 * The web UI in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) against
 * the embedded start: the services of @taskstream/host on a real PostgreSQL, task-api serving
 * the built UI. Steps that need a service the host does not run yet are skipped and named
 * "pending" (never passed without the service). Every console error fails the step it shows in.
 * Screenshots of each main screen go to test-artifacts/screenshots/.
 *
 * BROWSER_TEST_SERVICES=repo adds the services of this repository that the host does not run yet,
 * to run the whole scenario before they are wired into the host.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditService } from '@taskstream/audit';
import { allServices } from '@taskstream/host';
import { createNotificationService } from '@taskstream/notification';
import type { ServiceFactory } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createRecurringService } from '@taskstream/recurring';
import { createSyncService } from '@taskstream/sync';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '..');
const repoRoot = path.resolve(webDir, '../..');
const distIndex = path.join(webDir, 'dist/index.html');
const screenshots = path.join(repoRoot, 'test-artifacts/screenshots');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const optional = {
  recurring: createRecurringService,
  notification: createNotificationService,
  audit: createAuditService,
  sync: createSyncService,
} satisfies Record<string, ServiceFactory>;
type Optional = keyof typeof optional;

const ENV = { SEED_DEMO_USERS: 'true' };

// The runtime starts before the tests are declared, so that which services run decides which
// steps run (the host may wrap a factory, so its list alone does not tell).
mkdirSync(screenshots, { recursive: true });
buildIfStale();
let rt: TestRuntime = await startTestRuntime(allServices, { env: ENV });
let running = new Set<string>(rt.services.map((s) => s.name));
const missing = (Object.keys(optional) as Optional[]).filter((name) => !running.has(name));
if (process.env.BROWSER_TEST_SERVICES === 'repo' && missing.length > 0) {
  await rt.close();
  rt = await startTestRuntime([...allServices, ...missing.map((name) => optional[name])], { env: ENV });
  running = new Set(rt.services.map((s) => s.name));
}
const runs = (name: Optional) => running.has(name);

/** A test that needs these services, or a skipped one that says which are missing. */
function step(name: string, needs: Optional[], fn: () => Promise<void>, timeoutMs = 60_000) {
  const missing = needs.filter((n) => !runs(n));
  if (missing.length === 0) test(name, fn, timeoutMs);
  else test.skip(`${name} — pending: needs ${missing.join(', ')} in allServices`, fn);
}

/** The newest modification time of the files a build reads. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.includes('.test.')) continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  const inputs = Math.max(
    newestSource(webDir),
    statSync(path.join(repoRoot, 'services/sync/src/client.ts')).mtimeMs,
    statSync(path.join(repoRoot, 'services/sync/src/protocol.ts')).mtimeMs,
  );
  if (existsSync(distIndex) && statSync(distIndex).mtimeMs >= inputs) return;
  const vite = path.join(repoRoot, 'node_modules/vite/bin/vite.js');
  const result = spawnSync(
    process.execPath,
    [vite, 'build', '--config', path.join(webDir, 'vite.config.ts'), '--logLevel', 'warn'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
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
  /** Console errors a step causes on purpose and asserts (e.g. the 412 of a stale edit). */
  let allowed: RegExp[] = [];
  let first: Page;
  let second: Page;
  let admin: Page;
  const email = `walker-${Date.now()}@example.com`;
  const title = `Water the plants ${Date.now() % 100000}`;
  let taskId = '';
  /** The due day of the task, in Berlin. */
  let dueDay = '';
  let userToken = '';
  /** 404s of the endpoints of services that do not run: the UI shows "not available" for them. */
  let absent: RegExp[] = [];

  async function open(name: string, options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      timezoneId: 'America/New_York',
      ...options,
    });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error')
        consoleErrors.push(`${name}: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`${name}: uncaught ${error.message}`));
    return page;
  }

  async function shot(page: Page, name: string) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  }
  const heading = (page: Page, text: string) => page.getByRole('heading', { level: 1, name: text }).waitFor();
  const connection = (page: Page) => page.locator('.connection');
  const taskItem = (page: Page, id: string) => page.locator(`li.task[data-task-id="${id}"]`);

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
    expect(unexpected).toEqual([]);
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await rt?.close();
  });

  test('registers in one browser and logs in as the same user in a second', async () => {
    first = await open('first');
    await first.goto(`${rt.url}/`);
    await heading(first, 'Log in');
    await shot(first, 'login');
    await first.getByRole('link', { name: 'Register' }).click();
    await heading(first, 'Create an account');
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
    allowed.push(/status of 412/);
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

  test('the admin monitor draws live charts, or says the statistics are not available', async () => {
    if (!admin) {
      admin = await open('admin');
      await logIn(admin, 'admin@example.com', 'admin-password');
    }
    const stats = await rt.request('GET', '/api/admin/stats', {
      token: await rt.auth.sign({ userId: '00000000-0000-7000-8000-000000000000', role: 'admin' }),
    });
    await admin.goto(`${rt.url}/#/admin/monitor`);
    await heading(admin, 'Event monitor');
    if (stats.status === 404) {
      allowed.push(new RegExp(`status of 404 .*\\(${escapeRegExp(`${rt.url}/api/admin/`)}`));
      await admin.getByText('Live statistics is not available.').waitFor();
      await admin.getByText('The dead-letter queue is not available.').waitFor();
    } else {
      expect(stats.status).toBe(200);
      // Two samples a second apart draw a line: the path has a second point.
      await admin.waitForFunction(
        () => (document.querySelector('svg[data-chart="dlq"] path')?.getAttribute('d') ?? '').includes('L'),
        undefined,
        {
          timeout: 10_000,
        },
      );
    }
    await shot(admin, 'monitor-server');
  });

  test('the monitor charts what it polls each second and replays a dead letter (admin API stubbed in the browser)', async () => {
    const login = await rt.request('POST', '/api/auth/login', {
      body: { email: 'admin@example.com', password: 'admin-password' },
    });
    const page = await open('monitor');
    await page.addInitScript(
      (token) => localStorage.setItem('taskstream.token', token),
      login.body.token as string,
    );
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

  test('mailbox and settings screens', async () => {
    await first.getByRole('link', { name: 'Mailbox' }).click();
    await heading(first, 'Mailbox');
    if (runs('notification'))
      await first
        .getByText(/No mail yet|to /)
        .first()
        .waitFor();
    else await first.getByText('The local mailbox is not available.').waitFor();
    await shot(first, 'mailbox');
    await first.getByRole('link', { name: 'Settings' }).click();
    await heading(first, 'Settings');
    await first.locator('#push-status, .unavailable').first().waitFor();
    await shot(first, 'settings');
  });

  test('a phone-sized screen fits without sideways scrolling, and the keyboard reaches everything', async () => {
    const phone = await open('phone', {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    await phone.addInitScript((token) => localStorage.setItem('taskstream.token', token), userToken);
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
    // Every form control has an accessible name.
    const unnamed = await phone.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => {
          const labelled =
            (el as HTMLInputElement).labels?.length ||
            el.getAttribute('aria-label') ||
            el.getAttribute('aria-labelledby');
          return !labelled && !(el.textContent ?? '').trim();
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
  });
});
