import { type DaprTestApp, startDaprTestApp } from '../../../../scripts/stack/test-app.js';

// Two apps, each with its own daprd: the call goes caller -> its sidecar -> callee's sidecar -> callee.
describe('dapr Invoker through two sidecars', () => {
  let callee: DaprTestApp;
  let caller: DaprTestApp;

  beforeAll(async () => {
    callee = await startDaprTestApp({
      appId: 'e2e-callee',
      configure: (_ports, app) => {
        app.post('/api/echo/:id', (req, res) => {
          res
            .status(201)
            .json({ id: req.params.id, body: req.body, trace: req.header('x-test-trace') ?? null });
        });
        app.get('/api/missing', (_req, res) => {
          res.status(404).json({ error: { code: 'not_found', message: 'no such thing', details: {} } });
        });
      },
    });
    caller = await startDaprTestApp({ appId: 'e2e-caller' });
  }, 60_000);
  afterAll(async () => {
    await caller?.close();
    await callee?.close();
  }, 60_000);

  test("calls another app's route and gets its status and JSON body", async () => {
    const response = await caller.ports.invoker.invoke({
      appId: 'e2e-callee',
      method: 'POST',
      path: '/api/echo/42',
      body: { title: 'buy milk' },
      headers: { 'x-test-trace': 't-1' },
    });
    expect(response).toEqual({ status: 201, body: { id: '42', body: { title: 'buy milk' }, trace: 't-1' } });
  }, 60_000);

  test("the callee's error status is an answer, not a throw", async () => {
    const response = await caller.ports.invoker.invoke({
      appId: 'e2e-callee',
      method: 'GET',
      path: 'api/missing',
    });
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ error: { code: 'not_found' } });
  }, 60_000);
});
