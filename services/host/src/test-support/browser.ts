import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceFactory } from '@taskstream/platform';
import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { type Browser, chromium, type Page } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const webDir = path.join(repoRoot, 'services/web');
const distIndex = path.join(webDir, 'dist/index.html');

/** Debian's chromium, started as this machine allows (root, closed network). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

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

/** Builds services/web/dist (what task-api serves) when a source is newer than the last build. */
export function buildIfStale() {
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
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** Headless Chromium for a browser test. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A page whose console errors and uncaught exceptions are pushed to `errors`; a test expects none. */
export async function openPage(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${url}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${url}: uncaught ${e.message}`));
  await page.goto(url);
  return page;
}

export const SCREENSHOTS = path.join(repoRoot, 'test-artifacts/screenshots');

export interface BrowserSuite {
  readonly rt: TestRuntime;
  /** Console errors and uncaught exceptions of every page opened; a test expects none. */
  readonly errors: string[];
  open(path: string): Promise<Page>;
  screenshot(page: Page, name: string): Promise<unknown>;
}

/**
 * Registers the suite's setup: the web UI built, these services on a real PostgreSQL, headless
 * Chromium; all stopped after the suite. `env` sets config of the runtime (a fraud threshold, say).
 */
export function browserSuite(
  factories: ServiceFactory[],
  options: { env?: Record<string, string> } = {},
): BrowserSuite {
  let rt: TestRuntime | undefined;
  let browser: Browser | undefined;
  const errors: string[] = [];
  beforeAll(async () => {
    buildIfStale();
    mkdirSync(SCREENSHOTS, { recursive: true });
    rt = await startTestRuntime(factories, options);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await rt?.close();
  });
  return {
    get rt() {
      return rt!;
    },
    errors,
    open: (at) => openPage(browser!, rt!.url + at, errors),
    screenshot: (page, name) =>
      page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true }),
  };
}
