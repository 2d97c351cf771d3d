import { randomUUID } from 'node:crypto';
import { Topics } from '@taskstream/contracts';
import {
  createPool,
  type Envelope,
  embeddedMigrations,
  runMigrations,
  type ServiceFactory,
} from '@taskstream/platform';
import {
  createTestDatabase,
  eventually,
  signUp,
  startTestRuntime,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';

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

describe("publishing task events in the mutation's transaction", () => {
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
    // 20 registrations hash 20 passwords (scrypt at OWASP's floor): slow on a loaded machine.
  }, 180_000);

  it('publishes after an upgrade what the outbox of a task-api from before had not yet published, once, in its order', async () => {
    const database = await createTestDatabase();
    const pool = createPool(database.url, 2);
    try {
      // A database as the release before left it: the event log, and task-api's outbox with
      // rows its relay had published (they are in the log) and rows it had not yet.
      await runMigrations(
        pool,
        'platform',
        embeddedMigrations.filter((m) => m.id < '006'),
      );
      await pool.query(`CREATE TABLE outbox (
        id bigserial PRIMARY KEY, tx xid8 NOT NULL DEFAULT pg_current_xact_id(), topic text NOT NULL,
        partition_key text NOT NULL, event jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz)`);
      const user = randomUUID();
      const event = (title: string, sequence: number) => ({
        specversion: '1.0',
        id: randomUUID(),
        type: 'com.taskstream.task.created',
        source: 'taskstream/task-api',
        time: new Date().toISOString(),
        subject: randomUUID(),
        data: { user_id: user, sequence, payload: { task: { title } } },
      });
      const old = [event('published', 1), event('a', 2), event('b', 3), event('c', 4)];
      await pool.query(
        `INSERT INTO event_log (topic, partition_key, event_id, event) VALUES ('task-events', $1, $2, $3)`,
        [user, old[0]!.id, JSON.stringify(old[0])],
      );
      for (const [i, e] of old.entries()) {
        await pool.query(
          `INSERT INTO outbox (topic, partition_key, event, published_at) VALUES ('task-events', $1, $2, $3)`,
          [user, JSON.stringify(e), i === 0 ? new Date() : null],
        );
      }

      const { received, factory } = collector();
      const rt = await startTestRuntime([createTaskApiService, factory], { database });
      try {
        await eventually(async () => received.filter((r) => r.topic === 'task-events').length >= 4);
        await new Promise((r) => setTimeout(r, 500)); // room for a duplicate to show up
        expect(received.map((r) => r.event.id)).toEqual(old.map((e) => e.id));
        expect(received.map((r) => r.event.data.sequence)).toEqual([1, 2, 3, 4]);
        expect((await rt.pool.query(`SELECT to_regclass('outbox') AS t`)).rows[0].t).toBeNull();
      } finally {
        await rt.close();
      }
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
