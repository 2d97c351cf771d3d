import { randomUUID } from 'node:crypto';
import type { TestRuntime } from '@taskstream/platform/test-support';
import { rowHash } from './chain.js';
import { task, taskEvent } from './test-support/events.js';
import { publish, settled, startAudit, tokenFor } from './test-support/harness.js';

const MINUTE = 60_000;

describe('audit chain verification', () => {
  let rt: TestRuntime;
  let admin: string;
  const base = Date.now() - 100 * MINUTE;
  const n = 40;

  beforeAll(async () => {
    rt = await startAudit();
    admin = await tokenFor(rt, randomUUID(), 'admin');
    const users = [randomUUID(), randomUUID(), randomUUID()];
    // Minute i holds event i; users interleave.
    const events = Array.from({ length: n }, (_, i) =>
      taskEvent(i % 5 === 0 ? 'created' : 'updated', task(users[i % 3]!, { title: `Item ${i}` }), {
        time: new Date(base + i * MINUTE),
        changes: i % 5 === 0 ? undefined : { title: { before: `Item ${i - 1}`, after: `Item ${i}` } },
      }),
    );
    await publish(rt, events);
    await settled(rt, n);
  });
  afterAll(async () => rt?.close());

  const verify = async (query = '') => {
    const res = await rt.request('GET', `/api/audit-logs/verify${query}`, { token: admin });
    expect(res.status).toBe(200);
    return res.body;
  };
  const at = (minute: number) => new Date(base + minute * MINUTE).toISOString();
  const idAtMinute = async (minute: number): Promise<string> =>
    (await rt.pool.query('SELECT id::text FROM audit_logs WHERE time = $1', [at(minute)])).rows[0].id;
  const row = async (id: string) =>
    (await rt.pool.query('SELECT * FROM audit_logs WHERE id = $1', [id])).rows[0];

  it('accepts the untouched chain, whole or a time range of it', async () => {
    expect(await verify()).toEqual({ ok: true, checked: n, first_broken: null });
    expect(await verify(`?start_date=${at(10)}&end_date=${at(25)}`)).toEqual({
      ok: true,
      checked: 15,
      first_broken: null,
    });
  });

  it('names a row whose content was edited in the database, and accepts it again once restored', async () => {
    const id = await idAtMinute(17);
    const original = await row(id);
    await rt.pool.query(
      `UPDATE audit_logs SET payload = jsonb_set(payload, '{task,title}', '"Forged"') WHERE id = $1`,
      [id],
    );
    expect(await verify()).toEqual({ ok: false, checked: expect.any(Number), first_broken: id });
    // A range that ends before the edited row does not reach it.
    expect((await verify(`?end_date=${at(17)}`)).ok).toBe(true);
    expect((await verify(`?start_date=${at(17)}&end_date=${at(18)}`)).first_broken).toBe(id);

    await rt.pool.query('UPDATE audit_logs SET payload = $2 WHERE id = $1', [id, original.payload]);
    expect((await verify()).ok).toBe(true);

    await rt.pool.query(`UPDATE audit_logs SET actor = $2 WHERE id = $1`, [id, randomUUID()]);
    expect((await verify()).first_broken).toBe(id);
    await rt.pool.query('UPDATE audit_logs SET actor = $2 WHERE id = $1', [id, original.actor]);
    expect((await verify()).ok).toBe(true);
  });

  it('names a row that was edited and given a fresh hash of its new content', async () => {
    const id = await idAtMinute(8);
    const original = await row(id);
    const forged = {
      ...original,
      id,
      time: original.time.toISOString(),
      changes: { title: { before: 'x', after: 'y' } },
    };
    await rt.pool.query('UPDATE audit_logs SET changes = $2, hash = $3 WHERE id = $1', [
      id,
      forged.changes,
      rowHash(forged),
    ]);
    expect(await verify()).toMatchObject({ ok: false, first_broken: id });
    await rt.pool.query('UPDATE audit_logs SET changes = $2, hash = $3 WHERE id = $1', [
      id,
      original.changes,
      original.hash,
    ]);
    expect((await verify()).ok).toBe(true);
  });

  it('names the row after a deleted one, and a deleted newest row', async () => {
    const id = await idAtMinute(23);
    const removed = await rt.pool.query('DELETE FROM audit_logs WHERE id = $1 RETURNING *', [id]);
    expect(await verify()).toMatchObject({ ok: false, first_broken: String(BigInt(id) + 1n) });
    await rt.pool.query(
      `INSERT INTO audit_logs (id, event_id, time, actor, action, task_id, changes, trace_id, source, payload, prev_hash, hash, recorded_at)
       SELECT id, event_id, time, actor, action, task_id, changes, trace_id, source, payload, prev_hash, hash, recorded_at
       FROM jsonb_populate_record(NULL::audit_logs, $1)`,
      [removed.rows[0]],
    );
    expect((await verify()).ok).toBe(true);

    const newest = (await rt.pool.query('SELECT max(id)::text AS id FROM audit_logs')).rows[0].id;
    await rt.pool.query('DELETE FROM audit_logs WHERE id = $1', [newest]);
    expect(await verify()).toMatchObject({ ok: false, first_broken: newest });
  });
});
