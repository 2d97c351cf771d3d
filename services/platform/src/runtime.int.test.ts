import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';

describe('runtime', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([]);
  });
  afterAll(async () => rt?.close());

  it('serves health, readiness and metrics', async () => {
    expect((await rt.request('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await rt.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.database).toBe('ok');
    const metrics = await rt.request('GET', '/metrics');
    expect(metrics.body).toContain('taskstream_http_request_duration_seconds');
  });

  it('answers unknown routes and bad JSON with the error shape', async () => {
    const missing = await rt.request('GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
  });
});
