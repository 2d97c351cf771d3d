/**
 * The chart's `helm test` script (helm/taskstream/files/helm-test.mjs, inlined into the test Pod by
 * templates/tests/release.yaml) against the real task-api and sync on PostgreSQL: what the Pod
 * asks through the Services, asked here on loopback.
 */
import { join } from 'node:path';
import { startTestRuntime, TEST_JWT_SECRET, type TestRuntime } from '@taskstream/platform/test-support';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';
import { chartDir } from './helm.js';

type Check = { main(env: Record<string, string | undefined>): Promise<boolean> };

let rt: TestRuntime;
let check: Check;
const lines: string[] = [];
const log = console.log;

beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService, createSyncService]);
  // A variable path: the script is plain JavaScript shipped in the chart, typed by Check.
  const script = join(chartDir, 'files/helm-test.mjs');
  check = (await import(script)) as Check;
});
afterAll(() => rt?.close());
beforeEach(() => {
  lines.length = 0;
  console.log = (line: string) => lines.push(line);
});
afterEach(() => {
  console.log = log;
});

const env = () => ({
  READYZ_URLS: `${rt.url}/readyz ${rt.url}/healthz`,
  API_URL: rt.url,
  WS_URL: `${rt.url.replace(/^http/, 'ws')}/ws/tasks`,
});

test('with the JWT secret: readiness, the API, and a signed-in socket that says hello', async () => {
  expect(await check.main({ ...env(), JWT_SECRET: TEST_JWT_SECRET })).toBe(true);
  expect(lines).toEqual([
    expect.stringMatching(/^ok {4}GET .*\/readyz: 200$/),
    expect.stringMatching(/^ok {4}GET .*\/healthz: 200$/),
    expect.stringMatching(/^ok {4}GET .*\/api\/auth\/me without a token: 401 JSON$/),
    expect.stringMatching(/^ok {4}WebSocket .* with a token: hello, sequence \d+$/),
  ]);
});

test('without a secret (or with an external issuer) the refusal 4401 shows the upgrade reached sync', async () => {
  expect(await check.main(env())).toBe(true);
  expect(
    await check.main({ ...env(), JWT_SECRET: TEST_JWT_SECRET, JWKS_URL: 'https://idp.example/jwks' }),
  ).toBe(true);
  expect(lines.filter((l) => l.includes('WebSocket'))).toEqual([
    expect.stringMatching(/^ok {4}WebSocket .* without a token .*: refused with 4401 \(missing token\)$/),
    expect.stringMatching(/^ok {4}WebSocket .* without a token .*: refused with 4401 \(missing token\)$/),
  ]);
});

test('fails on a wrong secret, a service that is not there, and a path that is not the socket', async () => {
  expect(await check.main({ ...env(), JWT_SECRET: 'not-the-secret-not-the-secret-0123456789' })).toBe(false);
  expect(lines.at(-1)).toMatch(/^FAIL {2}WebSocket .*: closed 4401/);
  expect(await check.main({ READYZ_URLS: 'http://127.0.0.1:1/readyz' })).toBe(false);
  expect(await check.main({ WS_URL: `${rt.url.replace(/^http/, 'ws')}/api/tasks` })).toBe(false);
  expect(lines.at(-1)).toMatch(/^FAIL {2}WebSocket .*: /);
});
