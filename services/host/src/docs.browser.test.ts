/**
 * The API references at /docs/ and /docs/asyncapi/ in headless Chromium (Debian's, driven by
 * playwright-core) against task-api serving the built web UI: every public REST operation of the
 * served OpenAPI document is on the page, every event channel of the AsyncAPI document too, and
 * the pages log no error (a Content-Security-Policy violation is one).
 */
import { createTaskApiService } from '@taskstream/task-api';
import type { Page } from 'playwright-core';
import { parse } from 'yaml';
import { browserSuite } from './test-support/browser.js';

const suite = browserSuite([createTaskApiService]);
const { errors } = suite;
const open = (path: string): Promise<Page> => suite.open(path);

test('/docs/ renders every operation of /openapi.json', async () => {
  const spec = (await suite.rt.request('GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  const expected = Object.entries(spec.paths)
    .flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    )
    .sort();
  expect(expected.length).toBeGreaterThan(20);

  const page = await open('/docs/');
  await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
  const shown = await page.locator('.opblock').evaluateAll((blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '';
      const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
      return `${method} ${path}`;
    }),
  );
  expect([...new Set(shown)].sort()).toEqual(expected);
  await suite.screenshot(page, 'docs-openapi');
  await expect(page.getByRole('link', { name: 'Events (AsyncAPI)' }).getAttribute('href')).resolves.toBe(
    '/docs/asyncapi/',
  );
  await page.close();
  expect(errors).toEqual([]);
});

test('/docs/asyncapi/ renders every channel of /asyncapi.yaml', async () => {
  const doc = parse(await (await fetch(`${suite.rt.url}/asyncapi.yaml`)).text()) as {
    channels: Record<string, { address: string }>;
  };
  const addresses = Object.values(doc.channels).map((c) => c.address);
  expect(addresses).toEqual(expect.arrayContaining(['task-events', 'reminders', 'task-updates']));

  const page = await open('/docs/asyncapi/');
  await page.locator('#introduction, .aui-root').first().waitFor({ timeout: 30_000 });
  const text = (await page.locator('#asyncapi').textContent()) ?? '';
  for (const address of addresses) expect(text).toContain(address);
  await suite.screenshot(page, 'docs-asyncapi');
  await page.close();
  expect(errors).toEqual([]);
});
