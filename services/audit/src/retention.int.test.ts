import { randomUUID } from 'node:crypto';
import type { Envelope } from '@taskstream/platform';
import {
  createTestDatabase,
  eventually,
  type TestDatabase,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { RETENTION_JOB } from './index.js';
import { partitionFor } from './partitions.js';
import { task, taskEvent } from './test-support/events.js';
import { publish, settled, startAudit, tokenFor } from './test-support/harness.js';

const DAY = 86_400_000;

describe('audit retention', () => {
  let database: TestDatabase;
  let rt: TestRuntime | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await rt?.close();
    await database?.drop();
  });

  const partitionNames = async (runtime: TestRuntime) =>
    (
      await runtime.pool.query(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_logs'::regclass`,
      )
    ).rows.map((r) => r.name as string);
  const eventIds = async (runtime: TestRuntime) =>
    new Set(
      (await runtime.pool.query('SELECT event_id::text FROM audit_logs')).rows.map(
        (r) => r.event_id as string,
      ),
    );

  /** Runs the retention job now (a one-off job under the daily job's name prefix) and waits for it. */
  async function runRetention(runtime: TestRuntime, gone: string[]) {
    await runtime.ports.jobs.schedule({ name: `${RETENTION_JOB}:now-${randomUUID()}`, dueTime: '0s' });
    await eventually(async () => {
      const names = await partitionNames(runtime);
      return gone.every((g) => !names.includes(g));
    }, 30000);
  }

  it('drops whole expired partitions only, on the scheduled job, and the chain still verifies', async () => {
    const now = Date.now();
    const user = randomUUID();
    const t = task(user);
    const at = (daysAgo: number) => taskEvent('updated', t, { time: new Date(now - daysAgo * DAY) });
    // 200 and 125 days ago: months that ended before the 90-day cutoff. 89 days ago: a month that
    // reaches past the cutoff (kept whole, even its rows older than 90 days). 10 days ago and now.
    const expired = [at(200), at(200.5), at(125)];
    const kept = [at(89), at(89.2), at(10), at(0)];
    // Old events arriving late sit between newer ones in the chain: dropping them leaves gaps.
    const order: Envelope[] = [kept[0]!, expired[0]!, kept[1]!, expired[1]!, kept[2]!, expired[2]!, kept[3]!];

    rt = await startAudit({ database });
    await publish(rt, order);
    await settled(rt, order.length);
    const admin = await tokenFor(rt, randomUUID(), 'admin');
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body.ok).toBe(true);
    const listed = async () =>
      (await rt!.request('GET', '/api/audit-logs?limit=200', { token: admin })).body.items.map(
        (r: { event_id: string }) => r.event_id,
      );
    expect(await listed()).toHaveLength(order.length);

    const expiredPartitions = [...new Set(expired.map((e) => partitionFor(new Date(e.time)).name))];
    const keptPartitions = [...new Set(kept.map((e) => partitionFor(new Date(e.time)).name))];
    const thisMonth = new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1));
    const ahead = [1, 2].map(
      (m) =>
        partitionFor(new Date(Date.UTC(thisMonth.getUTCFullYear(), thisMonth.getUTCMonth() + m, 1))).name,
    );
    expect(await partitionNames(rt)).toEqual(
      expect.arrayContaining([...expiredPartitions, ...keptPartitions, ...ahead]),
    );
    expect(await rt.ports.jobs.get(RETENTION_JOB)).toMatchObject({ name: RETENTION_JOB, schedule: '@daily' });

    await runRetention(rt, expiredPartitions);
    expect(await eventIds(rt)).toEqual(new Set(kept.map((e) => e.id)));
    // Prepared list queries of the pool's connections are re-planned without the dropped tables.
    expect(await listed()).toEqual([...kept].sort((a, b) => b.time.localeCompare(a.time)).map((e) => e.id));
    expect(await partitionNames(rt)).toEqual(expect.arrayContaining([...keptPartitions, ...ahead]));
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body).toEqual({
      ok: true,
      checked: kept.length,
      first_broken: null,
    });

    // A shorter retention (configuration) takes the month of 89 days ago too on the next run.
    await rt.close();
    rt = await startAudit({ database, env: { AUDIT_RETENTION_DAYS: '30' } });
    await runRetention(rt, [...new Set(kept.slice(0, 2).map((e) => partitionFor(new Date(e.time)).name))]);
    expect(await eventIds(rt)).toEqual(new Set(kept.slice(2).map((e) => e.id)));
    expect((await rt.request('GET', '/api/audit-logs/verify', { token: admin })).body).toMatchObject({
      ok: true,
    });
  });
});
