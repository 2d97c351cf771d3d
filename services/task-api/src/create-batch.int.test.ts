import { randomUUID } from 'node:crypto';
import type { Task } from '@taskstream/contracts';
import { sampleTask, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskWriter } from './create-batch.js';
import { createTaskApiService } from './index.js';

const traceparent = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;

const task = (userId: string, overrides: Partial<Task> = {}) =>
  sampleTask(userId, { title: 'batched', tags: ['a', 'b'], ...overrides });

describe('task writer: creates of many users share one statement', () => {
  let rt: TestRuntime;
  let create: ReturnType<typeof createTaskWriter>;

  beforeAll(async () => {
    rt = await startTestRuntime([createTaskApiService]);
    create = createTaskWriter(rt.pool, rt.ports.bus);
  });
  afterAll(() => rt?.close());

  it('writes each task with its events under the next sequence of its user; a bad task fails alone', async () => {
    const users = Array.from({ length: 30 }, () => randomUUID());
    const first = users.map((u) => task(u));
    const bad = task(randomUUID(), { status: 'bogus' as Task['status'] });
    const second = users.map((u) => task(u, { tags: [] }));
    const outcomes = await Promise.allSettled([...first, bad, ...second].map((t) => create(t, traceparent)));

    expect(outcomes[first.length]).toMatchObject({ status: 'rejected' });
    const others = outcomes.filter((_, i) => i !== first.length);
    expect(others.every((o) => o.status === 'fulfilled' && o.value.kind === 'created')).toBe(true);

    const { rows } = await rt.pool.query<{
      user_id: string;
      task_id: string;
      topic: string;
      sequence: number;
    }>(
      `SELECT event->'data'->>'user_id' AS user_id, event->>'subject' AS task_id, topic,
         (event->'data'->>'sequence')::int AS sequence
       FROM event_log WHERE event->'data'->>'user_id' = ANY($1) ORDER BY tx, id`,
      [[...users, bad.user_id]],
    );
    expect(rows.filter((r) => r.user_id === bad.user_id)).toEqual([]);
    for (const [i, user] of users.entries()) {
      const mine = rows.filter((r) => r.user_id === user && r.topic === 'task-events');
      // Both of the user's concurrent creates, numbered 1 and 2 in the order they committed.
      expect(mine.map((r) => r.sequence)).toEqual([1, 2]);
      expect(mine.map((r) => r.task_id).sort()).toEqual([first[i]!.id, second[i]!.id].sort());
    }
    const stored = await rt.pool.query('SELECT tags FROM tasks WHERE id = $1', [first[0]!.id]);
    expect(stored.rows[0].tags).toEqual(['a', 'b']);
  });

  it('a task whose id exists already is not written again and publishes nothing', async () => {
    const t = task(randomUUID());
    expect(await create(t, traceparent)).toEqual({ kind: 'created' });
    const again = await Promise.all([
      create(t, traceparent),
      create({ ...t, title: 'changed' }, traceparent),
    ]);
    expect(again).toEqual([{ kind: 'exists' }, { kind: 'exists' }]);
    const { rows } = await rt.pool.query(
      `SELECT count(*)::int AS n FROM event_log WHERE event->>'subject' = $1`,
      [t.id],
    );
    expect(rows[0].n).toBe(2); // task-events and task-updates, once
    const title = await rt.pool.query('SELECT title FROM tasks WHERE id = $1', [t.id]);
    expect(title.rows[0].title).toBe('batched');
  });
});
