import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { allServices } from './index.js';

describe('embedded host', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime(allServices);
  });
  afterAll(async () => rt?.close());

  it('runs every service in one process, connected through events', async () => {
    const { token } = await signUp(rt, {
      email: `host-${Date.now()}@example.com`,
      password: 'host-password',
      name: 'Host',
    });
    const task = (await rt.request('POST', '/api/tasks', { token, body: { title: 'Everything at once' } }))
      .body;

    const audit = await eventually(async () => {
      const res = await rt.request('GET', `/api/audit-logs?task_id=${task.id}`, { token });
      return res.body.items?.length ? res.body.items : undefined;
    });
    expect(audit[0]).toMatchObject({ action: 'task.created', task_id: task.id });

    const synced = await eventually(async () => {
      const res = await rt.request('GET', '/api/sync/events?since=0', { token });
      return res.body.events?.length ? res.body.events : undefined;
    });
    expect(JSON.stringify(synced)).toContain(task.id);

    expect((await rt.request('GET', '/api/notifications', { token })).status).toBe(200);
    const ready = await rt.request('GET', '/readyz');
    expect(ready.status).toBe(200);
  });
});
