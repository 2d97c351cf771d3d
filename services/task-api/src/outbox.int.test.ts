import { Topics } from '@taskstream/contracts';
import type { Envelope, ServiceFactory } from '@taskstream/platform';
import {
  createTestDatabase,
  eventually,
  rowsRead,
  startTestRuntime,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';
import { relayReadSql } from './outbox.js';

interface Received {
  topic: string;
  event: Envelope & { data: { user_id: string; task_id: string; sequence: number } };
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
  const res = await rt.request('POST', '/api/auth/register', {
    body: {
      email: `${name}-${Math.random().toString(36).slice(2)}@example.com`,
      password: 'correct horse',
      name,
    },
  });
  return { token: res.body.token as string, id: res.body.user.id as string };
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

  it('keeps per-user sequences gap-free and in order under 200 concurrent mutations from 20 users', async () => {
    const { received, factory } = collector();
    const rt = await startTestRuntime([createTaskApiService, factory], { env: { DATABASE_POOL_SIZE: '40' } });
    try {
      const users = await Promise.all(Array.from({ length: 20 }, (_, i) => register(rt, `u${i}`)));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          rt.request('POST', '/api/tasks', { token: users[i % 20]!.token, body: { title: `t${i}` } }),
        ),
      );
      expect(results.every((r) => r.status === 201)).toBe(true);
      const events = () => received.filter((r) => r.topic === 'task-events');
      await eventually(async () => events().length >= 200, 30000);
      expect(events()).toHaveLength(200);
      for (const user of users) {
        const sequences = events()
          .filter((r) => r.event.data.user_id === user.id)
          .map((r) => r.event.data.sequence);
        expect(sequences).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
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
