import { Topics } from '@taskstream/contracts';
import type { Envelope, ServiceFactory } from '@taskstream/platform';
import {
  createTestDatabase,
  eventually,
  rowsRead,
  signUp,
  startTestRuntime,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';
import { relayReadSql } from './outbox.js';

interface Received {
  topic: string;
  event: Envelope & {
    data: { user_id: string; task_id: string; sequence: number; task_version: number; payload: unknown };
  };
}

/** Subscribes to every topic task-api publishes and keeps what arrives. */
function collector() {
  const received: Received[] = [];
  const factory: ServiceFactory = () => ({
    name: 'audit',
    subscriptions: [Topics.taskEvents, Topics.taskUpdates, Topics.reminders].map((topic) => ({
      topic,
      consumer: 'outbox-test',
      handler: async (event: Envelope) => {
        received.push({ topic, event: event as Received['event'] });
      },
    })),
  });
  return { received, factory };
}

async function register(rt: TestRuntime, name: string) {
  return signUp(rt, {
    email: `${name}-${Math.random().toString(36).slice(2)}@example.com`,
    password: 'correct horse',
    name,
  });
}

describe('outbox and relay', () => {
  it('publishes one mutation exactly once on each of its topics', async () => {
    const { received, factory } = collector();
    const rt = await startTestRuntime([createTaskApiService, factory]);
    try {
      const user = await register(rt, 'one');
      const task = (
        await rt.request('POST', '/api/tasks', {
          token: user.token,
          body: {
            title: 'Dentist',
            due_date: '2027-03-01T10:00:00Z',
            reminders: [{ offset_minutes: 60, channels: ['email'] }],
          },
          headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        })
      ).body;
      await eventually(async () => received.length >= 3);
      await new Promise((r) => setTimeout(r, 500)); // room for a duplicate to show up
      const byTopic = (topic: string) => received.filter((r) => r.topic === topic);
      expect(byTopic('task-events')).toHaveLength(1);
      expect(byTopic('task-updates')).toHaveLength(1);
      expect(byTopic('reminders')).toHaveLength(1);
      const event = byTopic('task-events')[0]!.event;
      expect(event).toMatchObject({
        specversion: '1.0',
        type: 'com.taskstream.task.created',
        subject: task.id,
        datacontenttype: 'application/json',
        dataschema: expect.stringContaining('task.created'),
        data: { user_id: user.id, task_id: task.id, sequence: 1, task_version: 1 },
      });
      expect(event.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
      expect(byTopic('reminders')[0]!.event).toMatchObject({
        type: 'com.taskstream.reminder.scheduled',
        data: {
          sequence: 1,
          payload: { reminder_id: `${task.id}.0`, fire_at: '2027-03-01T09:00:00.000Z', title: 'Dentist' },
        },
      });

      await rt.request('POST', `/api/tasks/${task.id}/complete`, { token: user.token });
      await eventually(async () => received.length >= 6);
      const cancelled = byTopic('reminders')[1]!.event;
      expect(cancelled).toMatchObject({ type: 'com.taskstream.reminder.cancelled', data: { sequence: 2 } });
      expect(byTopic('task-events')[1]!.event.data).toMatchObject({
        sequence: 2,
        changed_fields: expect.arrayContaining(['status', 'completed_at']),
      });
    } finally {
      await rt.close();
    }
  });

  it('schedules reminders again on reopen and cancels them on delete, on the reminders topic', async () => {
    const { received, factory } = collector();
    const rt = await startTestRuntime([createTaskApiService, factory]);
    try {
      const user = await register(rt, 'reminded');
      const body = {
        title: 'Call the bank',
        due_date: '2027-05-03T14:00:00Z',
        reminders: [
          { offset_minutes: 30, channels: ['email'] },
          { at: '2027-05-02T18:00:00Z', channels: ['in_app'] },
        ],
      };
      const task = (await rt.request('POST', '/api/tasks', { token: user.token, body })).body;
      const path = `/api/tasks/${task.id}`;
      for (const step of ['complete', 'reopen'])
        expect((await rt.request('POST', `${path}/${step}`, { token: user.token })).status).toBe(200);
      expect((await rt.request('DELETE', path, { token: user.token })).status).toBe(204);
      // A completed task has nothing scheduled: deleting it cancels nothing.
      const done = (await rt.request('POST', '/api/tasks', { token: user.token, body })).body;
      await rt.request('POST', `/api/tasks/${done.id}/complete`, { token: user.token });
      await rt.request('DELETE', `/api/tasks/${done.id}`, { token: user.token });

      const reminders = () => received.filter((r) => r.topic === 'reminders').map((r) => r.event);
      await eventually(async () => received.filter((r) => r.topic === 'task-events').length >= 7);
      await eventually(async () => reminders().length >= 12);
      await new Promise((r) => setTimeout(r, 500)); // room for a stray one to show up
      const summary = (task: string) =>
        reminders()
          .filter((e) => e.subject === task)
          .map((e) => {
            const payload = e.data.payload as Record<string, string>;
            return [
              e.type.replace('com.taskstream.', ''),
              e.data.sequence,
              payload.reminder_id,
              payload.fire_at ?? payload.reason,
            ];
          });
      const both = (type: string, sequence: number, a: string, b: string) => [
        [type, sequence, `${task.id}.0`, a],
        [type, sequence, `${task.id}.1`, b],
      ];
      const [offset, fixed] = ['2027-05-03T13:30:00.000Z', '2027-05-02T18:00:00.000Z'];
      expect(summary(task.id)).toEqual([
        ...both('reminder.scheduled', 1, offset, fixed),
        ...both('reminder.cancelled', 2, 'task completed', 'task completed'),
        // Reopened: pending again, so both reminders are due again at the same times.
        ...both('reminder.scheduled', 3, offset, fixed),
        ...both('reminder.cancelled', 4, 'task deleted', 'task deleted'),
      ]);
      expect(summary(done.id).map(([type, sequence]) => [type, sequence])).toEqual([
        ['reminder.scheduled', 5],
        ['reminder.scheduled', 5],
        ['reminder.cancelled', 6],
        ['reminder.cancelled', 6],
      ]);
      // The reminder events carry the sequence and version of the mutation that caused them.
      const events = received.filter((r) => r.topic === 'task-events').map((r) => r.event);
      expect(events.map((e) => [e.type.replace('com.taskstream.task.', ''), e.data.sequence])).toEqual([
        ['created', 1],
        ['completed', 2],
        ['reopened', 3],
        ['deleted', 4],
        ['created', 5],
        ['completed', 6],
        ['deleted', 7],
      ]);
    } finally {
      await rt.close();
    }
  });

  it('keeps per-user sequences gap-free and in order under 200 concurrent mutations of all kinds from 20 users', async () => {
    const { received, factory } = collector();
    const rt = await startTestRuntime([createTaskApiService, factory], { env: { DATABASE_POOL_SIZE: '40' } });
    try {
      const users = await Promise.all(Array.from({ length: 20 }, (_, i) => register(rt, `u${i}`)));
      type Call = { method: string; path: string; body?: unknown };
      const call = (token: string, { method, path, body }: Call) => rt.request(method, path, { token, body });
      // Each user's tasks to change: a, b and d pending, c completed (5 events per user).
      const tasks = await Promise.all(
        users.map(async ({ token }) => {
          const made: Record<string, string> = {};
          for (const name of ['a', 'b', 'c', 'd']) {
            const res = await call(token, { method: 'POST', path: '/api/tasks', body: { title: name } });
            made[name] = res.body.id;
          }
          await call(token, { method: 'POST', path: `/api/tasks/${made.c}/complete` });
          return made;
        }),
      );
      // Ten changes per user, all at once: several on one task land one after another (no
      // If-Match), and each makes exactly one event, so every user ends with 15.
      const plan = (t: Record<string, string>): Call[] => [
        { method: 'POST', path: '/api/tasks', body: { title: 'new 1' } },
        { method: 'POST', path: '/api/tasks', body: { title: 'new 2' } },
        ...[1, 2, 3].map((n) => ({ method: 'PATCH', path: `/api/tasks/${t.a}`, body: { title: `a${n}` } })),
        { method: 'POST', path: `/api/tasks/${t.b}/complete` },
        { method: 'PATCH', path: `/api/tasks/${t.b}`, body: { priority: 'high' } },
        { method: 'POST', path: `/api/tasks/${t.c}/reopen` },
        { method: 'PATCH', path: `/api/tasks/${t.c}`, body: { tags: ['again'] } },
        { method: 'DELETE', path: `/api/tasks/${t.d}` },
      ];
      const calls = users.flatMap((user, u) => plan(tasks[u]!).map((c) => () => call(user.token, c)));
      expect(calls).toHaveLength(200);
      // Interleaved across users, as the 200 requests arrive.
      const order = calls.map((_, i) => (i % 20) * 10 + Math.floor(i / 20));
      const results = await Promise.all(order.map((i) => calls[i]!()));
      expect(results.filter((r) => ![200, 201, 204].includes(r.status)).map((r) => r.body)).toEqual([]);

      const onTopic = (topic: string) => received.filter((r) => r.topic === topic).map((r) => r.event);
      await eventually(
        async () => onTopic('task-events').length >= 300 && onTopic('task-updates').length >= 300,
        30000,
      );
      await new Promise((r) => setTimeout(r, 500)); // room for a duplicate to show up
      const expectedTypes = (t: Record<string, string>) => ({
        [t.a!]: ['created', 'updated', 'updated', 'updated'],
        [t.b!]: ['completed', 'created', 'updated'],
        [t.c!]: ['completed', 'created', 'reopened', 'updated'],
        [t.d!]: ['created', 'deleted'],
      });
      for (const topic of ['task-events', 'task-updates']) {
        const events = onTopic(topic);
        expect(events).toHaveLength(300);
        for (const [u, user] of users.entries()) {
          const mine = events.filter((e) => e.data.user_id === user.id);
          expect(mine.map((e) => e.data.sequence)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
          const byTask = new Map<string, typeof mine>();
          for (const e of mine) byTask.set(e.data.task_id, [...(byTask.get(e.data.task_id) ?? []), e]);
          expect(byTask.size).toBe(6);
          const types = expectedTypes(tasks[u]!);
          for (const [taskId, list] of byTask) {
            const versions = list.map((e) => e.data.task_version);
            expect(versions).toEqual(Array.from({ length: list.length }, (_, i) => i + 1));
            expect(list[0]!.type).toBe('com.taskstream.task.created');
            const names = list.map((e) => e.type.replace('com.taskstream.task.', '')).sort();
            expect(names).toEqual(types[taskId] ?? ['created']);
          }
        }
      }
    } finally {
      await rt.close();
    }
  });

  it('publishes after a restart what was committed but not yet published', async () => {
    const database = await createTestDatabase();
    try {
      const first = await startTestRuntime([(deps) => createTaskApiService(deps, { relay: false })], {
        database,
      });
      const user = await register(first, 'crash');
      for (const title of ['a', 'b', 'c'])
        await first.request('POST', '/api/tasks', { token: user.token, body: { title } });
      const { rows } = await first.pool.query(
        'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
      );
      expect(rows[0].n).toBe(6);
      await first.close();

      const { received, factory } = collector();
      const second = await startTestRuntime([createTaskApiService, factory], { database });
      try {
        await eventually(async () => received.filter((r) => r.topic === 'task-events').length >= 3);
        const titles = received
          .filter((r) => r.topic === 'task-events')
          .map((r) => (r.event.data as any).payload.task.title);
        expect(titles).toEqual(['a', 'b', 'c']);
        await eventually(
          async () =>
            (await second.pool.query('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL'))
              .rows[0].n === 0,
        );
      } finally {
        await second.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('puts a batch into the embedded event log together with its published mark, or neither', async () => {
    const rt = await startTestRuntime([createTaskApiService]);
    try {
      // Every attempt to mark rows published fails (a sequence counts the attempts: it is not
      // rolled back with them).
      await rt.pool.query(`CREATE SEQUENCE mark_attempts;
        CREATE FUNCTION fail_mark() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN PERFORM nextval('mark_attempts'); RAISE EXCEPTION 'mark refused'; END $$;
        CREATE TRIGGER fail_mark BEFORE UPDATE OF published_at ON outbox
          FOR EACH ROW EXECUTE FUNCTION fail_mark()`);
      const user = await register(rt, 'atomic');
      await rt.request('POST', '/api/tasks', { token: user.token, body: { title: 'Both or neither' } });
      const copies = async () =>
        (
          await rt.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM event_log l JOIN outbox o ON o.event->>'id' = l.event_id AND o.topic = l.topic`,
          )
        ).rows[0]!.n;
      await eventually(
        async () => (await rt.pool.query('SELECT last_value FROM mark_attempts')).rows[0].last_value >= 2,
      );
      expect(await copies()).toBe(0);

      await rt.pool.query('DROP TRIGGER fail_mark ON outbox');
      await eventually(
        async () =>
          (await rt.pool.query('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL')).rows[0]
            .n === 0,
      );
      const { rows } = await rt.pool.query('SELECT count(*)::int AS n FROM outbox');
      expect(await copies()).toBe(rows[0].n); // each row once, after all those failed attempts
    } finally {
      await rt.close();
    }
  });

  it('reads on from the last row it published, not over the published rows before it', async () => {
    const rt = await startTestRuntime([createTaskApiService]);
    try {
      // 3,000 rows published in their own transaction: their old versions stay in the
      // unpublished-rows index as dead entries until vacuum runs.
      const client = await rt.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO outbox (topic, partition_key, event)
           SELECT 'relay-read-test', 'user-' || g, jsonb_build_object('n', g) FROM generate_series(1, 3000) g`,
        );
        await client.query(`UPDATE outbox SET published_at = now() WHERE topic = 'relay-read-test'`);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const { rows: lastRows } = await rt.pool.query(
        'SELECT tx::text AS tx, id FROM outbox ORDER BY outbox.tx DESC, id DESC LIMIT 1',
      );
      const examined = (position: { tx: string; id: string }) =>
        rowsRead(
          rt.pool,
          relayReadSql('o.id'),
          [position.tx, position.id],
          (node) => node['Index Name'] === 'outbox_unpublished',
        );
      expect(await examined(lastRows[0])).toBe(0);
      // From the front, the same read steps over every dead entry.
      expect(await examined({ tx: '0', id: '0' })).toBeGreaterThanOrEqual(3000);
    } finally {
      await rt.close();
    }
  });
});
