/**
 * The web UI behind a proxy that breaks WebSockets: every `/ws/tasks` handshake fails (1006), so
 * the sync client falls back to Server-Sent Events and live updates still arrive, authenticated
 * with a single-use ticket rather than a token in the URL.
 */
import { signUp } from '@taskstream/platform/test-support';
import { allServices } from './index.js';
import { browserSuite } from './test-support/browser.js';

const suite = browserSuite(allServices);
const PASSWORD = 'correct horse battery';

/** In the page, before its scripts: a WebSocket whose handshake always fails, as a breaking proxy makes it. */
function breakWebSockets() {
  class BrokenWebSocket extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readyState = 0;
    onopen: ((e: unknown) => void) | null = null;
    onmessage: ((e: unknown) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    onclose: ((e: { code: number; reason: string }) => void) | null = null;
    constructor(readonly url: string) {
      super();
      (window as unknown as { brokenSockets: string[] }).brokenSockets.push(url);
      setTimeout(() => {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: '' });
      }, 20);
    }
    close() {
      this.readyState = 3;
    }
    send() {}
  }
  (window as unknown as { brokenSockets: string[] }).brokenSockets = [];
  (window as unknown as { WebSocket: unknown }).WebSocket = BrokenWebSocket;
}

test('live updates arrive over Server-Sent Events when WebSockets are blocked', async () => {
  const email = `sse-${Date.now()}@example.com`;
  const { token } = await signUp(suite.rt, { email, password: PASSWORD, name: 'Fallback' });
  const page = await suite.open('/');
  await page.addInitScript(breakWebSockets);
  const streams: string[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/api/sync/stream')) streams.push(request.url());
  });
  await page.reload();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();

  const status = page.locator('.connection[data-state="connected"]');
  await status.waitFor({ timeout: 20_000 });
  expect(await status.getAttribute('title')).toBe('over Server-Sent Events');
  expect(
    await page.evaluate(() => (window as unknown as { brokenSockets: string[] }).brokenSockets.length),
  ).toBe(2);

  // A task made elsewhere shows up without a reload: it came over the event stream.
  const created = await suite.rt.request('POST', '/api/tasks', {
    token,
    body: { title: 'Arrived over SSE' },
  });
  expect(created.status).toBe(201);
  await page.locator(`li.task[data-task-id="${created.body.id}"]`).waitFor({ timeout: 15_000 });
  await suite.screenshot(page, 'tasks-live-over-sse');

  // The stream was opened with a ticket; the token never went into a URL.
  const opened = streams.filter((url) => new URL(url).pathname === '/api/sync/stream');
  expect(opened.length).toBeGreaterThanOrEqual(1);
  for (const url of opened) {
    expect(new URL(url).searchParams.get('ticket')).toBeTruthy();
    expect(url).not.toContain(token);
  }
  expect(suite.errors).toEqual([]);
});
