import {
  signUp,
  startTestRuntime,
  TEST_JWT_SECRET,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createTaskApiService } from './index.js';

let rt: TestRuntime;
let alice: string;
let bob: string;

async function register(name: string) {
  const { token } = await signUp(rt, {
    email: `${name}-${Math.random().toString(36).slice(2)}@example.com`,
    password: 'correct horse',
    name,
  });
  return token;
}

beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService]);
  [alice, bob] = await Promise.all([register('alice'), register('bob')]);
});
afterAll(async () => rt?.close());

const create = (token: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
  rt.request('POST', '/api/tasks', { token, body, headers });

describe('auth', () => {
  it('logs in with the registered password only', async () => {
    const email = `carol-${Date.now()}@example.com`;
    await rt.request('POST', '/api/auth/register', {
      body: { email, password: 'carol-password', name: 'Carol' },
    });
    const ok = await rt.request('POST', '/api/auth/login', { body: { email, password: 'carol-password' } });
    expect(ok.status).toBe(200);
    expect(ok.body.user.email).toBe(email);
    const me = await rt.request('GET', '/api/auth/me', { token: ok.body.token });
    expect(me.body.user.id).toBe(ok.body.user.id);
    const wrong = await rt.request('POST', '/api/auth/login', { body: { email, password: 'nope-nope' } });
    expect(wrong.status).toBe(401);
    // Registering a taken address answers like a new one, and changes nothing.
    const again = await rt.request('POST', '/api/auth/register', {
      body: { email, password: 'other-password', name: 'C' },
    });
    expect(again.status).toBe(202);
    const other = await rt.request('POST', '/api/auth/login', {
      body: { email, password: 'other-password' },
    });
    expect(other.status).toBe(401);
  });
});

describe('tasks', () => {
  it('creates, reads, changes, completes, reopens and deletes a task', async () => {
    const created = await create(alice, {
      title: 'Write report',
      due_date: '2026-12-01T09:00:00+01:00',
      time_zone: 'Europe/Berlin',
      tags: ['work'],
      reminders: [{ offset_minutes: 15, channels: ['email'] }],
    });
    expect(created.status).toBe(201);
    const task = created.body;
    expect(task).toMatchObject({
      title: 'Write report',
      status: 'pending',
      priority: 'medium',
      version: 1,
      occurrence: 1,
    });
    expect(task.due_date).toBe('2026-12-01T08:00:00.000Z');
    expect(created.headers.get('etag')).toBe('"1"');

    expect((await rt.request('GET', `/api/tasks/${task.id}`, { token: alice })).body.title).toBe(
      'Write report',
    );

    const patched = await rt.request('PATCH', `/api/tasks/${task.id}`, {
      token: alice,
      body: { title: 'Write the report', priority: 'high' },
      headers: { 'if-match': '"1"' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Write the report', priority: 'high', version: 2 });

    const stale = await rt.request('PATCH', `/api/tasks/${task.id}`, {
      token: alice,
      body: { title: 'lost update' },
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.error.details.current_version).toBe(2);

    const completed = await rt.request('POST', `/api/tasks/${task.id}/complete`, { token: alice });
    expect(completed.body).toMatchObject({ status: 'completed', version: 3 });
    expect(completed.body.completed_at).not.toBeNull();
    const twice = await rt.request('POST', `/api/tasks/${task.id}/complete`, { token: alice });
    expect(twice.body.version).toBe(3);

    const reopened = await rt.request('POST', `/api/tasks/${task.id}/reopen`, { token: alice });
    expect(reopened.body).toMatchObject({ status: 'pending', completed_at: null, version: 4 });

    expect((await rt.request('DELETE', `/api/tasks/${task.id}`, { token: alice })).status).toBe(204);
    expect((await rt.request('GET', `/api/tasks/${task.id}`, { token: alice })).status).toBe(404);
    expect((await rt.request('DELETE', `/api/tasks/${task.id}`, { token: alice })).status).toBe(404);
  });

  it('replays an Idempotency-Key instead of creating a second task', async () => {
    const key = `key-${Date.now()}`;
    const body = { title: 'Pay rent', tags: ['idem'] };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => create(alice, body, { 'idempotency-key': key })),
    );
    const ids = new Set(responses.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(responses.every((r) => r.status === 201)).toBe(true);
    const list = await rt.request('GET', '/api/tasks?tag=idem', { token: alice });
    expect(list.body.items).toHaveLength(1);

    const other = await create(alice, { title: 'Pay more rent', tags: ['idem'] }, { 'idempotency-key': key });
    expect(other.status).toBe(422);
    // The key belongs to its user: Bob's identical request is his own, new task.
    const bobs = await create(bob, body, { 'idempotency-key': key });
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(responses[0]!.body.id);
  });

  it('applies concurrent changes of one task one after another, each version once', async () => {
    const task = (await create(alice, { title: 'Contended' })).body;
    const path = `/api/tasks/${task.id}`;
    const eventsOf = async () =>
      (
        await rt.pool.query<{ type: string; sequence: number; version: number }>(
          `SELECT event->>'type' AS type, (event->'data'->>'sequence')::int AS sequence,
             (event->'data'->'payload'->'task'->>'version')::int AS version
           FROM event_log WHERE topic = 'task-events' AND event->>'subject' = $1 ORDER BY id`,
          [task.id],
        )
      ).rows;

    // The same If-Match from ten clients: one wins, the others find a newer version.
    const sameVersion = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rt.request('PATCH', path, {
          token: alice,
          body: { title: `same ${i}` },
          headers: { 'if-match': '"1"' },
        }),
      ),
    );
    expect(sameVersion.map((r) => r.status).sort()).toEqual([200, ...Array(9).fill(412)]);

    // Without If-Match every change lands, each on the version before it.
    const blind = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rt.request('PATCH', path, { token: alice, body: { title: `blind ${i}` } }),
      ),
    );
    expect(blind.every((r) => r.status === 200)).toBe(true);
    expect(new Set(blind.map((r) => r.body.version))).toEqual(
      new Set(Array.from({ length: 10 }, (_, i) => i + 3)),
    );

    // Five completions at once: one completes it, the others see it completed.
    const completes = await Promise.all(
      Array.from({ length: 5 }, () => rt.request('POST', `${path}/complete`, { token: alice })),
    );
    expect(completes.every((r) => r.status === 200 && r.body.status === 'completed')).toBe(true);

    const events = await eventsOf();
    expect(events.map((e) => e.type.replace('com.taskstream.task.', ''))).toEqual([
      'created',
      ...Array(11).fill('updated'),
      'completed',
    ]);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const sequences = events.map((e) => e.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect((await rt.request('GET', path, { token: alice })).body).toMatchObject({
      version: 13,
      status: 'completed',
    });
  });

  it('filters, sorts and pages without gaps or repeats', async () => {
    const token = await register('pager');
    const priorities = ['high', 'medium', 'low'] as const;
    const made: any[] = [];
    for (let i = 0; i < 23; i++) {
      const res = await create(token, {
        title: `Task ${String.fromCharCode(97 + ((i * 7) % 23))} ${i}`,
        priority: priorities[i % 3],
        tags: i % 2 ? ['odd'] : ['even'],
        due_date: i % 4 === 0 ? null : new Date(Date.UTC(2027, 0, 1 + ((i * 5) % 23), 9)).toISOString(),
        description: i === 5 ? 'contains the word needle' : '',
      });
      made.push(res.body);
    }
    const rank = { high: 0, medium: 1, low: 2 } as Record<string, number>;
    const byKey: Record<string, (t: any) => string | number> = {
      created_at: (t) => t.created_at,
      due_date: (t) => t.due_date ?? '9999',
      priority: (t) => rank[t.priority]!,
      title: (t) => t.title,
    };
    for (const [sortKey, value] of Object.entries(byKey)) {
      for (const descending of [false, true]) {
        const sort = `${descending ? '-' : ''}${sortKey}`;
        const seen: any[] = [];
        let cursor: string | null = null;
        do {
          const query: string = `/api/tasks?sort=${sort}&limit=4${cursor ? `&cursor=${cursor}` : ''}`;
          const page = await rt.request('GET', query, { token });
          expect(page.status).toBe(200);
          seen.push(...page.body.items);
          cursor = page.body.next_cursor;
        } while (cursor);
        const expected = [...made].sort((a, b) => {
          const [x, y] = [value(a), value(b)];
          const c = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
          return descending ? -c : c;
        });
        expect(seen.map((t) => t.id)).toEqual(expected.map((t) => t.id));
      }
    }
    const high = await rt.request('GET', '/api/tasks?priority=high&tag=odd&limit=200', { token });
    expect(high.body.items.map((t: any) => t.id).sort()).toEqual(
      made
        .filter((t) => t.priority === 'high' && t.tags.includes('odd'))
        .map((t) => t.id)
        .sort(),
    );
    const search = await rt.request('GET', '/api/tasks?q=NEEDLE', { token });
    expect(search.body.items.map((t: any) => t.id)).toEqual([made[5].id]);
    const window = await rt.request(
      'GET',
      '/api/tasks?due_after=2027-01-05T00:00:00Z&due_before=2027-01-10T00:00:00Z&limit=200',
      { token },
    );
    expect(window.body.items.map((t: any) => t.id).sort()).toEqual(
      made
        .filter(
          (t) =>
            t.due_date && t.due_date >= '2027-01-05T00:00:00.000Z' && t.due_date < '2027-01-10T00:00:00.000Z',
        )
        .map((t) => t.id)
        .sort(),
    );
    const bad = await rt.request('GET', '/api/tasks?cursor=garbage', { token });
    expect(bad.status).toBe(400);
  });
});

describe('isolation', () => {
  it("never lets a user read, change, complete, reopen, delete or list another user's task", async () => {
    const task = (await create(alice, { title: 'Alice only', tags: ['secret'] })).body;
    const path = `/api/tasks/${task.id}`;
    expect((await rt.request('GET', path, { token: bob })).status).toBe(404);
    expect((await rt.request('PATCH', path, { token: bob, body: { title: 'mine now' } })).status).toBe(404);
    expect((await rt.request('POST', `${path}/complete`, { token: bob })).status).toBe(404);
    expect((await rt.request('POST', `${path}/reopen`, { token: bob })).status).toBe(404);
    expect((await rt.request('DELETE', path, { token: bob })).status).toBe(404);
    const list = await rt.request('GET', '/api/tasks?tag=secret&limit=200', { token: bob });
    expect(list.body.items).toEqual([]);
    const still = await rt.request('GET', path, { token: alice });
    expect(still.body).toMatchObject({ title: 'Alice only', status: 'pending', version: 1 });
  });
});

describe('bad input gets a 4xx naming the problem', () => {
  const expectError = (res: { status: number; body: any }, status: number, pattern: RegExp) => {
    expect(res.status).toBe(status);
    expect(res.body.error.message).toMatch(pattern);
  };

  it('rejects malformed bodies', async () => {
    expectError(
      await rt.request('POST', '/api/tasks', { token: alice, rawBody: '{"title":' }),
      400,
      /not valid JSON/,
    );
    expectError(await create(alice, { title: 'x', colour: 'red' }), 400, /unknown field.*colour/);
    expectError(await create(alice, { title: 42 }), 400, /title/);
    expectError(await create(alice, { title: 'x', due_date: '2026-02-30T10:00:00Z' }), 400, /due_date/);
    expectError(await create(alice, { title: 'x', time_zone: 'Mars/Olympus_Mons' }), 400, /time zone/);
    expectError(await create(alice, { title: 'a\u0000b' }), 400, /title/);
    expectError(await create(alice, { title: 'x', tags: ['a\u0000'] }), 400, /tags/);
    expectError(await create(alice, { title: 'x', due_date: '0000-06-01T00:00:00Z' }), 400, /due_date/);
    expectError(await create(alice, { title: 'x', due_date: '0001-01-01T00:00:00+01:00' }), 400, /due_date/);
    expectError(await create(alice, { title: 'x', due_date: '9999-12-31T23:30:00-01:00' }), 400, /due_date/);
    expectError(await create(alice, { title: 'x', reminders: [{ channels: ['email'] }] }), 400, /reminder/);
    const huge = JSON.stringify({ title: 'x', description: 'a'.repeat(1024 * 1024 + 10) });
    expectError(await rt.request('POST', '/api/tasks', { token: alice, rawBody: huge }), 413, /larger than/);
    expectError(
      await rt.request('PATCH', '/api/tasks/not-a-uuid', { token: alice, body: { title: 'y' } }),
      404,
      /not found/,
    );
  });

  /** 4xx with the whole error shape, and a message that names the problem. */
  const expectNamed = (res: { status: number; body: any }, status: number, pattern: RegExp) => {
    expectError(res, status, pattern);
    expect(res.body.error).toEqual({
      code: expect.any(String),
      message: expect.any(String),
      details: expect.anything(),
    });
  };
  const cursorOf = (value: unknown, id = '01a20946-01c5-7245-a347-3a055a5f8794') =>
    Buffer.from(JSON.stringify([value, id])).toString('base64url');

  it('rejects bad list parameters', async () => {
    const list = (query: string) => rt.request('GET', `/api/tasks?${query}`, { token: alice });
    expectNamed(await list('limit=abc'), 400, /limit/);
    expectNamed(await list('limit=100000'), 400, /limit/);
    expectNamed(await list('limit=0'), 400, /limit/);
    expectNamed(await list('limit=1&limit=2'), 400, /limit/);
    // ADR 0002: unknown query parameters are refused, so a typo never silently drops a filter.
    expectNamed(await list('colour=red'), 400, /unknown.*colour/);
    expectNamed(await list('due_before=2026-02-30'), 400, /due_before/);
    expectNamed(await list('due_before=2026-02-30T10:00:00Z'), 400, /due_before/);
    expectNamed(await list('due_after=yesterday'), 400, /due_after/);
    expectNamed(await list('status=done'), 400, /status/);
    expectNamed(await list('sort=colour'), 400, /sort/);
    expectNamed(await list('sort=--title'), 400, /sort/);
    // Cursors that are not base64 JSON, that hold the wrong shape, or a value of the wrong kind
    // for the sort key (taken from another sort, or made up).
    for (const [sort, cursor] of [
      ['-created_at', 'garbage'],
      ['-created_at', cursorOf('not a time')],
      ['-created_at', cursorOf({ at: 1 })],
      ['-created_at', cursorOf('2026-01-01T00:00:00Z', 'not-a-uuid')],
      ['due_date', cursorOf(12)],
      ['priority', cursorOf('high')],
      ['priority', cursorOf(70000)],
      ['title', cursorOf(['a'])],
    ]) {
      expectNamed(await list(`sort=${sort}&cursor=${cursor}`), 400, /cursor/);
    }
    expectNamed(await list(`cursor=${'a'.repeat(600)}`), 400, /cursor/);
    // PostgreSQL text cannot hold NUL, nor timestamptz the year 0.
    expectNamed(await list('q=a%00b'), 400, /q/);
    expectNamed(await list('tag=a%00b'), 400, /tag/);
    expectNamed(await list('due_before=0000-01-01T00:00:00Z'), 400, /due_before/);
    expectNamed(await list(`sort=title&cursor=${cursorOf('a\u0000b')}`), 400, /cursor/);
  });

  it('rejects bad changes and a bad If-Match', async () => {
    const task = (await create(alice, { title: 'Target', due_date: '2027-01-04T09:00:00Z' })).body;
    const patch = (body: unknown, headers?: Record<string, string>) =>
      rt.request('PATCH', `/api/tasks/${task.id}`, { token: alice, body, headers });
    expectNamed(await patch({ colour: 'red' }), 400, /unknown field.*colour/);
    expectNamed(await patch({}), 400, /nothing to update/);
    expectNamed(await patch({ title: 42 }), 400, /title/);
    expectNamed(await patch({ tags: 'work' }), 400, /tags/);
    expectNamed(await patch({ priority: 'urgent' }), 400, /priority/);
    expectNamed(await patch({ due_date: '2026-02-30T10:00:00Z' }), 400, /due_date/);
    expectNamed(await patch({ due_date: '2027-01-04' }), 400, /due_date/);
    expectNamed(await patch({ time_zone: 'Mars/Olympus_Mons' }), 400, /time zone/);
    expectNamed(await patch({ recurrence: { rule: 'FREQ=SOMETIMES' } }), 400, /recurrence/);
    expectNamed(await patch({ recurrence: { rule: 'daily', anchor: 'whenever' } }), 400, /anchor/);
    expectNamed(await patch({ recurrence: 'daily' }), 400, /recurrence/);
    expectNamed(
      await rt.request('PATCH', `/api/tasks/${task.id}`, { token: alice, rawBody: '[1,2]' }),
      400,
      /expected object/i,
    );
    for (const ifMatch of ['three', '"3', '"-1"', '1.5', '"1", "2"']) {
      expectNamed(await patch({ title: 'x' }, { 'if-match': ifMatch }), 400, /If-Match/);
      expectNamed(
        await rt.request('DELETE', `/api/tasks/${task.id}`, {
          token: alice,
          headers: { 'if-match': ifMatch },
        }),
        400,
        /If-Match/,
      );
    }
    // None of that changed the task.
    expect((await rt.request('GET', `/api/tasks/${task.id}`, { token: alice })).body).toMatchObject({
      title: 'Target',
      version: 1,
    });
  });

  it('rejects recurrence rules the engine cannot follow, and accepts good ones', async () => {
    const due = { due_date: '2027-01-04T09:00:00+01:00', time_zone: 'Europe/Berlin' };
    const bad = [
      'FREQ=SOMETIMES',
      'FREQ=DAILY;INTERVAL=0',
      'FREQ=DAILY;COUNT=3;UNTIL=20270201T000000Z',
      'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30',
      '61 * * * *',
    ];
    for (const rule of bad) {
      expectError(await create(alice, { title: 'r', ...due, recurrence: { rule } }), 400, /recurrence/);
    }
    // Day 1 of the year is never in February: found only by searching the rule, still a 400.
    expectNamed(
      await create(alice, { title: 'r', ...due, recurrence: { rule: 'FREQ=YEARLY;BYMONTH=2;BYYEARDAY=1' } }),
      400,
      /recurrence\.rule: the rule produces no occurrence within 50 years/,
    );
    const task = (await create(alice, { title: 'r', ...due })).body;
    expectNamed(
      await rt.request('PATCH', `/api/tasks/${task.id}`, {
        token: alice,
        body: { recurrence: { rule: 'FREQ=MINUTELY;BYMONTH=2;BYYEARDAY=1' } },
      }),
      400,
      /no occurrence within 366 days/,
    );
    for (const rule of ['weekly:MO,WE', 'FREQ=MONTHLY;BYDAY=-1FR', '0 9 * * 1-5']) {
      const res = await create(alice, { title: 'r', ...due, recurrence: { rule, anchor: 'due' } });
      expect(res.status).toBe(201);
      expect(res.body.series_id).toBe(res.body.id);
    }
  });

  it('rejects expired, unsigned, alg-none and foreign tokens', async () => {
    const secret = new TextEncoder().encode(TEST_JWT_SECRET);
    const base = () =>
      new SignJWT({ role: 'user' })
        .setSubject('01a20946-01c5-7245-a347-3a055a5f8794')
        .setIssuer('taskstream')
        .setAudience('taskstream');
    const expired = await base()
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(1000)
      .setExpirationTime(2000)
      .sign(secret);
    const noExp = await base().setProtectedHeader({ alg: 'HS256' }).sign(secret);
    const foreign = await base()
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('x'.repeat(40)));
    const none = new UnsecuredJWT({ role: 'admin' })
      .setSubject('x')
      .setIssuer('taskstream')
      .setAudience('taskstream')
      .setExpirationTime('1h')
      .encode();
    const unsigned = `${alice.split('.').slice(0, 2).join('.')}.`;
    const cases: [string, RegExp][] = [
      [expired, /expired/],
      [noExp, /exp/],
      [foreign, /signature/],
      [none, /algorithm|malformed/],
      [unsigned, /invalid|malformed|signature/],
      ['garbage', /malformed|invalid/],
    ];
    for (const [token, reason] of cases) {
      expectError(await rt.request('GET', '/api/tasks', { token }), 401, reason);
    }
    expectError(await rt.request('GET', '/api/tasks'), 401, /bearer/);
  });
});

describe('internal routes (service invocation only)', () => {
  const appToken = 'app-token-for-the-internal-routes';
  let guarded: TestRuntime;
  beforeAll(async () => {
    guarded = await startTestRuntime([createTaskApiService], { env: { APP_API_TOKEN: appToken } });
  });
  afterAll(async () => guarded?.close());

  it('refuses a missing, wrong or same-length wrong app token and accepts the right one', async () => {
    const reg = await signUp(guarded, {
      email: `dave-${Date.now()}@example.com`,
      password: 'correct horse',
      name: 'Dave',
    });
    const userId = reg.id;
    const occurrence = {
      id: crypto.randomUUID(),
      user_id: userId,
      series_id: crypto.randomUUID(),
      occurrence: 2,
      title: 'Weekly review',
    };
    const wrongTokens = [undefined, 'nope', appToken.replace(/.$/, 'X')];
    for (const token of wrongTokens) {
      const headers = token ? { 'dapr-api-token': token } : undefined;
      const created = await guarded.request('POST', '/internal/tasks', { body: occurrence, headers });
      expect(created.status).toBe(401);
      const user = await guarded.request('GET', `/internal/users/${userId}`, { headers });
      expect(user.status).toBe(401);
    }
    const listed = await guarded.request('GET', '/api/tasks', { token: reg.token });
    expect(listed.body.items).toEqual([]);

    const headers = { 'dapr-api-token': appToken };
    const created = await guarded.request('POST', '/internal/tasks', { body: occurrence, headers });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: occurrence.id, user_id: userId, occurrence: 2 });
    const user = await guarded.request('GET', `/internal/users/${userId}`, { headers });
    expect(user.status).toBe(200);
    expect(user.body.id).toBe(userId);
  });
});
