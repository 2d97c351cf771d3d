import { startTestRuntime, type TestRuntime } from './test-support/index.js';

/** Browser hardening headers on every response of a real server: answers, errors, health, metrics. */

let rt: TestRuntime;

beforeAll(async () => {
  rt = await startTestRuntime([], { env: { METRICS_PORT: '0' } });
});

afterAll(async () => {
  await rt?.close();
});

function expectHardened(headers: Headers) {
  const csp = headers.get('content-security-policy') ?? '';
  const directives = Object.fromEntries(
    csp.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );
  expect(directives).toMatchObject({
    'default-src': "'self'",
    'script-src': "'self'",
    'script-src-attr': "'none'",
    'style-src': "'self'",
    'object-src': "'none'",
    'frame-ancestors': "'none'",
  });
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('x-powered-by')).toBeNull();
}

test('every kind of response carries the headers; HSTS only over TLS', async () => {
  for (const path of ['/healthz', '/readyz', '/no/such/route']) {
    const res = await rt.request('GET', path);
    expectHardened(res.headers);
    // Plain http: HSTS would be ignored by browsers and wrong to send.
    expect(res.headers.get('strict-transport-security')).toBeNull();
  }
  const bad = await rt.request('POST', '/no/such/route', { rawBody: '{"broken' });
  expect(bad.status).toBe(400);
  expectHardened(bad.headers);

  const metrics = await fetch(`${rt.metricsUrl}/metrics`);
  expect(metrics.status).toBe(200);
  expectHardened(metrics.headers);
});

test('behind a trusted proxy that terminated TLS, responses carry HSTS', async () => {
  // The test client is on loopback, which `trust proxy` trusts: its X-Forwarded-Proto counts.
  const res = await rt.request('GET', '/healthz', { headers: { 'x-forwarded-proto': 'https' } });
  expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
  expectHardened(res.headers);
});
