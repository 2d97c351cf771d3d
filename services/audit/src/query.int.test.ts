import { randomUUID } from 'node:crypto';
import type { Task } from '@taskstream/contracts';
import type { Envelope } from '@taskstream/platform';
import type { TestRuntime } from '@taskstream/platform/test-support';
import type { AuditFilters } from './query.js';
import { parseCsv } from './test-support/csv.js';
import { type TaskAction, task, taskEvent } from './test-support/events.js';
import { publish, settled, startAudit, tokenFor } from './test-support/harness.js';

interface Row {
  event_id: string;
  time: string;
  actor: string;
  action: string;
  task_id: string;
  words: string[];
}

const TITLES = ['Dentist appointment', 'Buy milk', 'Call the dentist office', 'Quarterly report'];
const ACTIONS: TaskAction[] = ['created', 'updated', 'completed', 'reopened', 'updated', 'deleted'];
const HOUR = 3_600_000;

const wordsOf = (...texts: string[]) => texts.flatMap((t) => t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
/** The string values inside a JSON value (the search covers values, not keys). */
const stringsIn = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : value && typeof value === 'object'
      ? Object.values(value).flatMap(stringsIn)
      : [];

/**
 * Three users, four tasks each, events every 13 hours back from now (so across at least two
 * months), and five events that share one instant (paging must neither skip nor repeat them).
 */
function dataset(users: string[]) {
  const tasks = new Map(
    users.map((u) => [
      u,
      TITLES.map((title) => task(u, { title, description: title === 'Buy milk' ? 'oat, not zebra' : '' })),
    ]),
  );
  const now = Date.now();
  const events: Envelope[] = [];
  const rows: Row[] = [];
  const add = (t: Task, action: TaskAction, time: Date) => {
    const changes = action === 'updated' ? { priority: { before: 'medium', after: 'high' } } : undefined;
    const e = taskEvent(action, t, { time, changes });
    events.push(e);
    rows.push({
      event_id: e.id,
      time: time.toISOString(),
      actor: t.user_id,
      action: `task.${action}`,
      task_id: t.id,
      words: wordsOf(`task ${action}`, t.title, t.description, ...t.tags, ...stringsIn(changes ?? {})),
    });
  };
  for (let i = 0; i < 120; i++) {
    const user = users[i % users.length]!;
    add(
      tasks.get(user)![i % TITLES.length]!,
      ACTIONS[i % ACTIONS.length]!,
      new Date(now - (120 - i) * 13 * HOUR),
    );
  }
  const shared = new Date(now - 30 * HOUR + 1);
  for (let i = 0; i < 5; i++) add(tasks.get(users[i % 2]!)![0]!, 'updated', shared);
  // Publish in time order per user, as task-api would.
  const order = events
    .map((e, i) => [e, rows[i]!] as const)
    .sort((a, b) => a[1].time.localeCompare(b[1].time));
  return { events: order.map(([e]) => e), rows, tasks };
}

type Filters = AuditFilters;

/** What the API must return, by the rules it documents, newest first. */
function expected(rows: Row[], filters: Filters, viewer: { id: string; admin: boolean }): Row[] {
  if (!viewer.admin && filters.user_id && filters.user_id !== viewer.id) return [];
  const actor = viewer.admin ? filters.user_id : viewer.id;
  const terms = filters.q ? wordsOf(filters.q) : [];
  return rows
    .filter(
      (r) =>
        (!actor || r.actor === actor) &&
        (!filters.task_id || r.task_id === filters.task_id) &&
        (!filters.event_type || r.action === filters.event_type.replace('com.taskstream.', '')) &&
        (!filters.start_date || r.time >= new Date(filters.start_date).toISOString()) &&
        (!filters.end_date || r.time < new Date(filters.end_date).toISOString()) &&
        terms.every((t) => r.words.some((w) => w.startsWith(t))),
    )
    .sort((a, b) => b.time.localeCompare(a.time));
}

async function allPages(rt: TestRuntime, token: string, filters: Filters, limit: number) {
  const items: { event_id: string; time: string; id: string; actor: string }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: URLSearchParams = new URLSearchParams({
      ...filters,
      limit: String(limit),
      ...(cursor ? { cursor } : {}),
    } as Record<string, string>);
    const res: { status: number; body: any } = await rt.request('GET', `/api/audit-logs?${query}`, { token });
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (++pages > 500) throw new Error('paging does not end');
  } while (cursor);
  return items;
}

/** Same rows in the same order; rows of one instant must come in descending id order. */
function expectSameRows(actual: { event_id: string; time: string; id: string }[], wanted: Row[]) {
  expect(actual.map((a) => a.time)).toEqual(wanted.map((w) => w.time));
  expect(actual.map((a) => a.event_id).sort()).toEqual(wanted.map((w) => w.event_id).sort());
  for (let i = 1; i < actual.length; i++) {
    if (actual[i]!.time === actual[i - 1]!.time)
      expect(BigInt(actual[i]!.id)).toBeLessThan(BigInt(actual[i - 1]!.id));
  }
}

describe('audit query, paging, access and export', () => {
  let rt: TestRuntime;
  let data: ReturnType<typeof dataset>;
  const users = [randomUUID(), randomUUID(), randomUUID()];
  const [alice, bob] = users as [string, string, string];
  let aliceToken: string;
  let adminToken: string;
  const admin = { id: randomUUID(), admin: true };

  beforeAll(async () => {
    rt = await startAudit();
    data = dataset(users);
    await publish(rt, data.events);
    await settled(rt, data.events.length);
    aliceToken = await tokenFor(rt, alice);
    adminToken = await tokenFor(rt, admin.id, 'admin');
  });
  afterAll(async () => rt?.close());

  const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 24 * HOUR).toISOString();

  it('filters return exactly the expected rows, page by page, newest first', async () => {
    const dentist = data.tasks.get(bob)![0]!.id;
    const cases: Filters[] = [
      {},
      { user_id: bob },
      { task_id: dentist },
      { event_type: 'task.updated' },
      { event_type: 'com.taskstream.task.completed', user_id: alice },
      { start_date: day(40), end_date: day(10) },
      { user_id: bob, start_date: day(60), end_date: day(1) },
      {
        start_date: new Date(Date.now() - 30 * HOUR + 1).toISOString(),
        end_date: new Date(Date.now() - 30 * HOUR + 2).toISOString(),
      },
      { q: 'dent' },
      { q: 'DENTIST offi' },
      { q: 'zebra', user_id: alice },
      { q: 'high' },
      { q: 'nothing-like-this' },
      {
        user_id: alice,
        q: 'dentist',
        event_type: 'task.updated',
        start_date: day(50),
        end_date: new Date(Date.now() + HOUR).toISOString(),
      },
    ];
    for (const filters of cases) {
      const wanted = expected(data.rows, filters, admin);
      for (const limit of [7, 200]) {
        const items = await allPages(rt, adminToken, filters, limit);
        expectSameRows(items, wanted);
      }
    }
    // The cases cover something: most select a proper, non-empty part of the rows.
    const sizes = cases.map((f) => expected(data.rows, f, admin).length);
    expect(sizes.filter((n) => n > 0 && n < data.rows.length).length).toBeGreaterThanOrEqual(10);
  });

  it('a user sees only their own rows; asking for another user gives an empty page', async () => {
    const own = await allPages(rt, aliceToken, {}, 50);
    expectSameRows(own, expected(data.rows, {}, { id: alice, admin: false }));
    expect(own.every((r) => r.actor === alice)).toBe(true);

    const other = await rt.request('GET', `/api/audit-logs?user_id=${bob}`, { token: aliceToken });
    expect(other.status).toBe(200);
    expect(other.body).toEqual({ items: [], next_cursor: null });
    const bobsTask = data.tasks.get(bob)![1]!.id;
    expect(
      (await rt.request('GET', `/api/audit-logs?task_id=${bobsTask}`, { token: aliceToken })).body.items,
    ).toEqual([]);
    expect((await allPages(rt, aliceToken, { q: 'dentist' }, 50)).every((r) => r.actor === alice)).toBe(true);

    const stranger = await tokenFor(rt, randomUUID());
    expect((await rt.request('GET', '/api/audit-logs', { token: stranger })).body.items).toEqual([]);
    expect((await rt.request('GET', '/api/audit-logs')).status).toBe(401);
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: aliceToken })).status).toBe(403);
  });

  it('rejects bad filters and cursors with 400 naming the field', async () => {
    for (const query of [
      'user_id=nope',
      'start_date=yesterday',
      'limit=1000',
      'cursor=garbage',
      'colour=red',
    ]) {
      const res = await rt.request('GET', `/api/audit-logs?${query}`, { token: adminToken });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toMatch(/validation_failed|bad_request/);
    }
    const backwards = await rt.request('GET', `/api/audit-logs?start_date=${day(1)}&end_date=${day(2)}`, {
      token: adminToken,
    });
    expect(backwards.status).toBe(400);
  });

  it('exports the same selection as NDJSON and CSV', async () => {
    const filters: Filters = { user_id: bob, start_date: day(60) };
    const wanted = expected(data.rows, filters, admin);
    const ndjson = await rt.request(
      'GET',
      `/api/audit-logs/export?format=ndjson&${new URLSearchParams({ ...filters })}`,
      { token: adminToken },
    );
    expect(ndjson.status).toBe(200);
    expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (ndjson.body as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expectSameRows(lines, wanted);
    expect(lines[0]).toEqual(
      (
        await rt.request('GET', `/api/audit-logs?${new URLSearchParams({ ...filters, limit: '1' })}`, {
          token: adminToken,
        })
      ).body.items[0],
    );

    const csv = await rt.request(
      'GET',
      `/api/audit-logs/export?format=csv&${new URLSearchParams({ ...filters })}`,
      { token: adminToken },
    );
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const records = parseCsv(csv.body as string);
    expect(records[0]).toEqual([
      'id',
      'event_id',
      'time',
      'actor',
      'action',
      'task_id',
      'changes',
      'trace_id',
      'source',
      'payload',
      'hash',
      'actor_email',
      'task_title',
    ]);
    expect(records.slice(1).map((r) => r[1])).toEqual(lines.map((l) => l.event_id));
    expect(JSON.parse(records[1]![9]!)).toEqual(lines[0].payload);

    // A user's export holds their rows only, whatever they ask for.
    const own = await rt.request('GET', '/api/audit-logs/export', { token: aliceToken });
    const ownLines = (own.body as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expectSameRows(ownLines, expected(data.rows, {}, { id: alice, admin: false }));
    const none = await rt.request('GET', `/api/audit-logs/export?format=csv&user_id=${bob}`, {
      token: aliceToken,
    });
    expect(parseCsv(none.body as string)).toHaveLength(1);
  });

  it('streams an export larger than one batch completely', async () => {
    const user = randomUUID();
    const t = task(user, { title: 'Bulk' });
    const base = Date.now() - 5 * HOUR;
    const many = Array.from({ length: 1234 }, (_, i) =>
      taskEvent('updated', t, { time: new Date(base + i), sequence: i + 1 }),
    );
    await publish(rt, many);
    await settled(rt, data.events.length + many.length, 0, 60000);
    const res = await rt.request('GET', `/api/audit-logs/export?user_id=${user}`, { token: adminToken });
    const lines = (res.body as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event_id)).toEqual([...many].reverse().map((e) => e.id));
  });
});
