import { signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { allServices } from './index.js';

// Text PostgreSQL cannot hold (a NUL) or that is not text at all (a lone UTF-16 surrogate, which
// JSON can carry as `\ud800` but jsonb refuses) is a 400 naming the field on every service's
// routes, never a 500 from the database.
const LONE_SURROGATE = 'a\ud800b';
const NUL = 'a\u0000b';

describe('malformed text in requests', () => {
  let rt: TestRuntime;
  let token: string;
  let taskId: string;
  let admin: string;
  beforeAll(async () => {
    rt = await startTestRuntime(allServices);
    const user = await signUp(rt, {
      email: `text-${Date.now()}@example.com`,
      password: 'plain text and nothing else',
      name: 'Text',
    });
    token = user.token;
    taskId = (await rt.request('POST', '/api/tasks', { token, body: { title: 'A task' } })).body.id;
    admin = await rt.auth.sign({ userId: user.id, role: 'admin' });
  });
  afterAll(async () => rt?.close());

  // JSON.stringify writes a lone surrogate as the escape `\ud800`, exactly as an attacker sends it.
  const bodies: [string, string, (bad: string) => unknown, string][] = [
    ['POST', '/api/tasks', (bad) => ({ title: bad }), 'title'],
    ['POST', '/api/tasks', (bad) => ({ title: 'ok', description: bad }), 'description'],
    ['POST', '/api/tasks', (bad) => ({ title: 'ok', tags: ['fine', bad] }), 'tags.1'],
    ['PATCH', '/api/tasks/:id', (bad) => ({ title: bad }), 'title'],
    ['PATCH', '/api/tasks/:id', (bad) => ({ tags: [bad] }), 'tags.0'],
    [
      'POST',
      '/api/auth/register',
      (bad) => ({ email: 'x@example.com', password: 'long-enough', name: bad }),
      'name',
    ],
    ['POST', '/api/recurrence/preview', (bad) => ({ rule: bad, start: '2026-01-01T00:00:00Z' }), 'rule'],
    [
      'PUT',
      '/api/preferences',
      (bad) => ({ channels: ['email'], quiet_hours: { start: '22:00', end: '07:00', time_zone: bad } }),
      'quiet_hours.time_zone',
    ],
    [
      'POST',
      '/api/push/subscriptions',
      (bad) => ({ endpoint: 'https://push.example.com/x', keys: { p256dh: bad, auth: 'auth' } }),
      'keys.p256dh',
    ],
  ];

  test.each(
    bodies.flatMap(([method, route, body, field]) =>
      [LONE_SURROGATE, NUL].map((bad) => [method, route, field, JSON.stringify(bad), body(bad)] as const),
    ),
  )('%s %s with %s = %s is 400', async (method, route, field, _shown, body) => {
    const res = await rt.request(method, route.replace(':id', taskId), { token, body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  });

  test.each([
    ['/api/audit-logs?event_type=', 'event_type', 'user'],
    ['/api/audit-logs?q=', 'q', 'user'],
    ['/api/audit-logs/export?q=', 'q', 'user'],
    ['/api/tasks?q=', 'q', 'user'],
    ['/api/admin/dlq?topic=', 'topic', 'admin'],
    ['/api/admin/dlq?consumer=', 'consumer', 'admin'],
  ])('GET %s<NUL> is 400 naming %s', async (path, field, who) => {
    const res = await rt.request('GET', `${path}a%00b`, { token: who === 'admin' ? admin : token });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
  });

  test('well-formed text beyond the BMP and in other scripts is kept as sent', async () => {
    const title = 'Grüße 🌱 日本語 \u{1F600}';
    const created = await rt.request('POST', '/api/tasks', { token, body: { title, tags: ['🌱'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ title, tags: ['🌱'] });
  });
});
