import { randomUUID } from 'node:crypto';
import type { Envelope } from '@taskstream/platform';
import { eventually, type TestRuntime } from '@taskstream/platform/test-support';
import { createRecorder, entryOf } from './ingest.js';
import { createPartitionManager } from './partitions.js';
import { type TaskAction, task, taskEvent } from './test-support/events.js';
import { handled, publish, rowCount, settled, startAudit, tokenFor } from './test-support/harness.js';

/** One user's operations on a few tasks, in the order task-api would publish them. */
function userStream(userId: string, tasks: number): Envelope[] {
  const events: Envelope[] = [];
  let sequence = 0;
  for (let n = 0; n < tasks; n++) {
    let t = task(userId, { title: `Task ${n} of ${userId.slice(-4)}` });
    const step = (action: TaskAction, next: Partial<typeof t>) => {
      const before = t;
      t = { ...t, ...next, version: t.version + (action === 'created' ? 0 : 1) };
      const changes = Object.fromEntries(
        Object.keys(next).map((k) => [
          k,
          { before: before[k as keyof typeof t], after: t[k as keyof typeof t] },
        ]),
      );
      events.push(
        taskEvent(action, t, { sequence: ++sequence, changes: action === 'created' ? undefined : changes }),
      );
    };
    step('created', {});
    step('updated', { title: `Renamed ${n}`, priority: 'high' });
    step('completed', { status: 'completed', completed_at: new Date().toISOString() });
    step('reopened', { status: 'pending', completed_at: null });
    if (n % 2 === 0) step('deleted', {});
  }
  return events;
}

/** Round-robin over the users' streams: each user's order kept, users interleaved. */
function interleave(streams: Envelope[][]): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; streams.some((s) => i < s.length); i++)
    for (const s of streams) if (i < s.length) out.push(s[i]!);
  return out;
}

describe('audit ingestion', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startAudit();
  });
  afterAll(async () => rt?.close());

  it('writes one row per event when every event arrives twice and users interleave', async () => {
    const users: string[] = Array.from({ length: 5 }, () => randomUUID());
    const streams = users.map((u) => userStream(u, 6));
    const events = interleave(streams);
    const n = events.length;

    // Every event twice: some duplicates right behind the original, the others after everything.
    const firstPass: Envelope[] = [];
    for (const [i, e] of events.entries()) {
      firstPass.push(e);
      if (i % 3 === 0) firstPass.push(e);
    }
    const rest = events.filter((_, i) => i % 3 !== 0);
    // Two publishers at once, as two task-api replicas would (each keeps its users' order).
    const userOf = (e: Envelope) => (e.data as { user_id: string }).user_id;
    const half = new Set(users.slice(0, 2));
    await Promise.all([
      publish(
        rt,
        firstPass.filter((e) => half.has(userOf(e))),
      ),
      publish(
        rt,
        firstPass.filter((e) => !half.has(userOf(e))),
      ),
    ]);
    await publish(rt, rest);

    await settled(rt, n, n);
    expect(await handled(rt, 'inserted')).toBe(n);
    expect(await handled(rt, 'duplicate')).toBe(n);
    expect(await rowCount(rt)).toBe(n);

    const { rows } = await rt.pool.query(
      `SELECT id::text, event_id::text, time, actor::text, action, task_id::text, changes, trace_id, source, payload
       FROM audit_logs ORDER BY audit_logs.id`,
    );
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.id)));
    expect(rows.map((r) => r.id)).toEqual(rows.map((_, i) => String(i + 1)));
    const byEvent = new Map(rows.map((r) => [r.event_id, r]));
    for (const e of events) {
      const data = e.data as { user_id: string; task_id: string; payload: { changes?: unknown } };
      expect(byEvent.get(e.id)).toEqual({
        id: expect.any(String),
        event_id: e.id,
        time: new Date(e.time),
        actor: data.user_id,
        action: e.type.replace('com.taskstream.', ''),
        task_id: data.task_id,
        changes: data.payload.changes ?? {},
        trace_id: e.traceparent!.split('-')[1],
        source: e.source,
        payload: data.payload,
      });
    }
    // Each user's rows in the chain follow that user's publish order.
    for (const [u, stream] of users.map((u, i) => [u, streams[i]!] as const)) {
      expect(rows.filter((r) => r.actor === u).map((r) => r.event_id)).toEqual(stream.map((e) => e.id));
    }

    const admin = await tokenFor(rt, randomUUID(), 'admin');
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body).toEqual({
      ok: true,
      checked: n,
      first_broken: null,
    });
  });

  it('ignores other event types and dead-letters an invalid task event with its reason', async () => {
    const before = await rowCount(rt);
    const t = task(randomUUID());
    const other = { ...taskEvent('created', t), type: 'com.taskstream.notification.created' };
    const broken = taskEvent('updated', t);
    (broken.data as { task_id: string }).task_id = 'not-a-uuid';
    const good = taskEvent('created', task(randomUUID()));
    await publish(rt, [other, broken, good]);
    const dead = await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT reason FROM dead_letters WHERE consumer = 'audit' AND event_id = $1`,
        [broken.id],
      );
      return rows[0];
    }, 20000);
    expect(dead.reason).toMatch(/invalid task\.updated event .*data\.task_id/);
    await eventually(async () => (await rowCount(rt)) === before + 1);
    const { rows } = await rt.pool.query(
      'SELECT event_id::text FROM audit_logs WHERE event_id = ANY($1::uuid[])',
      [[other.id, broken.id, good.id]],
    );
    expect(rows.map((r) => r.event_id)).toEqual([good.id]);
  });

  it('creates the partition of an event month on demand', async () => {
    const time = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 2, 15));
    const e = taskEvent('created', task(randomUUID()), { time });
    const before = await rowCount(rt);
    await publish(rt, [e]);
    await eventually(async () => (await rowCount(rt)) === before + 1);
    const name = `audit_logs_y${time.getUTCFullYear()}m${String(time.getUTCMonth() + 1).padStart(2, '0')}`;
    const { rows } = await rt.pool.query(
      'SELECT tableoid::regclass::text AS partition FROM audit_logs WHERE event_id = $1',
      [e.id],
    );
    expect(rows[0].partition).toBe(name);
  });

  it('writes entries that arrive together in one batch, skipping repeats within it, and fails a bad entry alone', async () => {
    const record = createRecorder(rt.pool, createPartitionManager(rt.pool, rt.logger));
    const before = await rowCount(rt);
    const a = entryOf(taskEvent('created', task(randomUUID())))!;
    const b = entryOf(taskEvent('created', task(randomUUID())))!;
    expect(await Promise.all([record(a), record(b), record({ ...a }), record(b)])).toEqual([
      'inserted',
      'inserted',
      'duplicate',
      'duplicate',
    ]);
    expect(await rowCount(rt)).toBe(before + 2);

    // PostgreSQL refuses a NUL character in JSON text: that entry fails, the others of its batch land.
    const c = entryOf(taskEvent('created', task(randomUUID())))!;
    const bad = entryOf(taskEvent('created', task(randomUUID(), { title: 'nul \u0000 inside' })))!;
    const d = entryOf(taskEvent('created', task(randomUUID())))!;
    const outcomes = await Promise.allSettled([record(c), record(bad), record(d)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await rowCount(rt)).toBe(before + 4);
    const admin = await tokenFor(rt, randomUUID(), 'admin');
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body.ok).toBe(true);
  });

  it('two writers (as two replicas) recording the same events at once write each event once', async () => {
    const writers = [
      createRecorder(rt.pool, createPartitionManager(rt.pool, rt.logger)),
      createRecorder(rt.pool, createPartitionManager(rt.pool, rt.logger)),
    ];
    const before = await rowCount(rt);
    const entries = Array.from({ length: 60 }, () => entryOf(taskEvent('updated', task(randomUUID())))!);
    const results = await Promise.all(entries.flatMap((e) => writers.map((write) => write({ ...e }))));
    expect(results.filter((r) => r === 'inserted')).toHaveLength(entries.length);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(entries.length);
    expect(await rowCount(rt)).toBe(before + entries.length);
    const admin = await tokenFor(rt, randomUUID(), 'admin');
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body.ok).toBe(true);
  });
});
