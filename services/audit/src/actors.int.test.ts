/**
 * Who and what by name (ADR 0025): the audit trail learns an actor's email from the logins and
 * self-registrations it records, shows it beside the actor id and filters by it; a task row
 * names its task by the title its event carried. Only admins see other users' rows, hence their
 * emails.
 */
import type { TestRuntime } from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';
import { BACKFILL_ACTORS } from './schema.js';
import { parseCsv } from './test-support/csv.js';
import { securityEvent, task, taskEvent } from './test-support/events.js';
import { publish, settled, startAudit, tokenFor } from './test-support/harness.js';

let rt: TestRuntime;
const alice = uuidv7();
const bob = uuidv7();
const admin = uuidv7();
const tag = uuidv7().slice(-8);
const aliceEmail = `Alice.${tag}@Example.com`;
const bobEmail = `bob.${tag}@example.com`;
const carolEmail = `carol.${tag}@example.com`;
const MINUTE = 60_000;
const start = Date.now() - 60 * MINUTE;
const at = (minutes: number) => new Date(start + minutes * MINUTE);
const aliceTask = task(alice, { title: 'Dentist appointment' });
const bobTask = task(bob, { title: 'Quarterly report' });

interface Item {
  actor: string | null;
  actor_email: string | null;
  action: string;
  task_id: string | null;
  task_title: string | null;
  payload: Record<string, unknown>;
}

const list = async (query: Record<string, string>, token: string) => {
  const res = await rt.request('GET', `/api/audit-logs?${new URLSearchParams({ limit: '200', ...query })}`, {
    token,
  });
  return res as { status: number; body: { items: Item[]; error?: { details?: { path: string }[] } } };
};

beforeAll(async () => {
  rt = await startAudit();
  await rt.ports.bus.publish([
    securityEvent('auth.registered', bob, { email: bobEmail, outcome: 'created', by: 'self' }, at(1)),
    // Newest first: a late delivery of an older login must not replace what a newer one told.
    securityEvent('auth.login_succeeded', alice, { email: aliceEmail }, at(3)),
    securityEvent('auth.login_succeeded', alice, { email: `old.${aliceEmail}` }, at(2)),
    // What was typed, and the admin as actor of someone else's account: neither names the actor.
    securityEvent(
      'auth.login_failed',
      bob,
      { email: `typo.${bobEmail}`, reason: 'wrong_credentials' },
      at(4),
    ),
    securityEvent('auth.registered', admin, { email: carolEmail, outcome: 'created', by: 'admin' }, at(5)),
  ]);
  await publish(rt, [
    taskEvent('created', aliceTask, { time: at(6) }),
    taskEvent('created', bobTask, { time: at(7) }),
    taskEvent('completed', bobTask, { time: at(8) }),
  ]);
  await settled(rt, 8);
}, 60_000);
afterAll(async () => rt?.close());

describe('audit rows name their actor and task', () => {
  test('an admin sees emails and titles, with the full ids beside them', async () => {
    const { status, body } = await list({}, await tokenFor(rt, admin, 'admin'));
    expect(status).toBe(200);
    const byAction = (action: string, actor: string | null) =>
      body.items.find((i) => i.action === action && i.actor === actor);
    expect(byAction('task.created', alice)).toMatchObject({
      actor_email: aliceEmail,
      task_id: aliceTask.id,
      task_title: 'Dentist appointment',
    });
    expect(byAction('task.completed', bob)).toMatchObject({
      actor_email: bobEmail,
      task_title: 'Quarterly report',
    });
    // The admin never logged in as far as this trail knows: the id stands alone.
    expect(byAction('auth.registered', admin)).toMatchObject({
      actor_email: null,
      task_title: null,
      payload: expect.objectContaining({ email: carolEmail }),
    });
    expect(body.items.filter((i) => i.actor === bob).every((i) => i.actor_email === bobEmail)).toBe(true);
  });

  test('an admin filters by actor email, in any letter case; an unknown email finds nothing', async () => {
    const token = await tokenFor(rt, admin, 'admin');
    const aliceRows = (await list({ actor_email: aliceEmail.toUpperCase() }, token)).body.items;
    expect(aliceRows.map((i) => i.action).sort()).toEqual([
      'auth.login_succeeded',
      'auth.login_succeeded',
      'task.created',
    ]);
    expect(aliceRows.every((i) => i.actor === alice && i.actor_email === aliceEmail)).toBe(true);

    const bobRows = (await list({ actor_email: bobEmail, event_type: 'task.completed' }, token)).body.items;
    expect(bobRows.map((i) => [i.action, i.task_id])).toEqual([['task.completed', bobTask.id]]);

    // Carol's account was made by the admin and never logged in; a typo'd login is no identity.
    for (const email of [carolEmail, `typo.${bobEmail}`, `old.${aliceEmail}`, `nobody.${tag}@example.com`]) {
      const res = await list({ actor_email: email }, token);
      expect([res.status, res.body.items]).toEqual([200, []]);
    }
  });

  test('a user sees their own rows and email only; another email gives an empty page', async () => {
    const token = await tokenFor(rt, alice);
    const own = (await list({}, token)).body.items;
    expect(own.length).toBe(3);
    expect(own.every((i) => i.actor === alice && i.actor_email === aliceEmail)).toBe(true);
    expect((await list({ actor_email: aliceEmail }, token)).body.items.length).toBe(3);
    for (const email of [bobEmail, carolEmail]) {
      const res = await list({ actor_email: email }, token);
      expect([res.status, res.body.items]).toEqual([200, []]);
    }
    const bobToken = await tokenFor(rt, bob);
    expect((await list({ actor_email: aliceEmail }, bobToken)).body.items).toEqual([]);
  });

  test('a malformed email is refused naming the parameter', async () => {
    const token = await tokenFor(rt, admin, 'admin');
    for (const bad of ['not-an-email', `${'x'.repeat(250)}@example.com`]) {
      const res = await list({ actor_email: bad }, token);
      expect(res.status).toBe(400);
      expect(res.body.error?.details?.map((d) => d.path)).toContain('actor_email');
    }
  });

  test('the CSV export carries the email and title columns and honours the filter', async () => {
    const res = await rt.request(
      'GET',
      `/api/audit-logs/export?format=csv&actor_email=${encodeURIComponent(bobEmail)}`,
      {
        token: await tokenFor(rt, admin, 'admin'),
      },
    );
    expect(res.status).toBe(200);
    const [columns, ...records] = parseCsv(res.body as string);
    const column = (name: string) => records.map((r) => r[columns!.indexOf(name)]);
    expect(column('actor_email')).toEqual([bobEmail, bobEmail, bobEmail, bobEmail]);
    expect(column('task_title')).toEqual(['Quarterly report', 'Quarterly report', '', '']);
  });

  test('the migration fills the emails from rows recorded before it, newest login first', async () => {
    await rt.pool.query('DELETE FROM audit_actors WHERE user_id = ANY($1::uuid[])', [[alice, bob, admin]]);
    await rt.pool.query(BACKFILL_ACTORS);
    const { rows } = await rt.pool.query<{ user_id: string; email: string }>(
      'SELECT user_id, email FROM audit_actors WHERE user_id = ANY($1::uuid[]) ORDER BY email',
      [[alice, bob, admin]],
    );
    expect(rows).toEqual([
      { user_id: alice, email: aliceEmail },
      { user_id: bob, email: bobEmail },
    ]);
  });
});
