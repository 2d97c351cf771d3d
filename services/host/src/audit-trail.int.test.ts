import { randomUUID } from 'node:crypto';
import { createAuditService } from '@taskstream/audit';
import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from '@taskstream/task-api';

describe('audit trail of task operations through the REST API', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([createAuditService, createTaskApiService]);
  });
  afterAll(async () => rt?.close());

  async function register(name: string) {
    return signUp(rt, {
      email: `${name}-${randomUUID()}@example.com`,
      password: 'correct horse battery',
      name,
    });
  }

  it('create, update and complete give three rows with before and after, newest first', async () => {
    const ann = await register('ann');
    const other = await register('other');
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const created = await rt.request('POST', '/api/tasks', {
      token: ann.token,
      body: { title: 'Dentist', priority: 'low' },
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const updated = await rt.request('PATCH', `/api/tasks/${id}`, {
      token: ann.token,
      body: { title: 'Dentist at 10', priority: 'high' },
      headers: { 'if-match': `"${created.body.version}"` },
    });
    expect(updated.status).toBe(200);
    expect((await rt.request('POST', `/api/tasks/${id}/complete`, { token: ann.token })).status).toBe(200);
    await rt.request('POST', '/api/tasks', { token: other.token, body: { title: 'Not ann' } });

    // Her task's rows (her log also holds her registration and login: security events, ADR 0015).
    const page = await eventually(async () => {
      const res = await rt.request('GET', `/api/audit-logs?task_id=${id}`, { token: ann.token });
      return res.body.items.length >= 3 ? res.body : undefined;
    });
    expect(page.items.map((r: { action: string }) => r.action)).toEqual([
      'task.completed',
      'task.updated',
      'task.created',
    ]);
    const [completed, update, create] = page.items;
    for (const row of page.items)
      expect(row).toMatchObject({
        actor: ann.id,
        task_id: id,
        source: expect.any(String),
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    expect(create.trace_id).toBe(traceId);
    expect(create.changes).toEqual({});
    expect(create.payload.task).toMatchObject({ id, title: 'Dentist', priority: 'low' });
    expect(update.changes).toEqual({
      title: { before: 'Dentist', after: 'Dentist at 10' },
      priority: { before: 'low', after: 'high' },
    });
    expect(completed.changes.status).toEqual({ before: 'pending', after: 'completed' });

    // No fourth row of Ann's shows up later, and the other user's task is not in her trail.
    // (Each user's registration and login are rows too: 4 task rows and 4 security rows.)
    await eventually(
      async () => (await rt.pool.query('SELECT count(*)::int AS n FROM audit_logs')).rows[0].n === 8,
    );
    const hers = (await rt.request('GET', '/api/audit-logs', { token: ann.token })).body.items;
    expect(hers.map((r: { action: string }) => r.action)).toEqual([
      'task.completed',
      'task.updated',
      'task.created',
      'auth.login_succeeded',
      'auth.registered',
    ]);
    const admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    const search = await rt.request('GET', `/api/audit-logs?q=${encodeURIComponent('dentist 10')}`, {
      token: admin,
    });
    expect(search.body.items.map((r: { action: string }) => r.action)).toEqual([
      'task.completed',
      'task.updated',
    ]);
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body).toEqual({
      ok: true,
      checked: 8,
      first_broken: null,
    });
  });
});
