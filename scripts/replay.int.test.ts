import { randomUUID } from 'node:crypto';
import { createAuditService } from '@taskstream/audit';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';
import { parseFrom, replayProjection } from './replay.js';

const CONTENT = `event_id::text, time, actor, action, task_id, changes, trace_id, source, payload`;

describe('replay a projection from the event log', () => {
  let rt: TestRuntime;
  let token: string;

  beforeAll(async () => {
    rt = await startTestRuntime([createTaskApiService, createAuditService, createSyncService]);
    const userId = randomUUID();
    await rt.pool.query(
      `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'Replay', 'user', 'x')`,
      [userId, `replay-${userId}@example.com`],
    );
    token = await rt.auth.sign({ userId, role: 'user' });
    for (let i = 0; i < 6; i++) {
      const created = await rt.request('POST', '/api/tasks', { token, body: { title: `task ${i}` } });
      expect(created.status).toBe(201);
      if (i % 2 === 0)
        expect((await rt.request('POST', `/api/tasks/${created.body.id}/complete`, { token })).status).toBe(
          200,
        );
    }
    // 6 created + 3 completed: every one in the audit trail and the sync history.
    await eventually(
      async () => (await rt.pool.query('SELECT count(*)::int AS n FROM audit_logs')).rows[0].n === 9,
    );
    await eventually(
      async () => (await rt.pool.query('SELECT count(*)::int AS n FROM sync_inbox')).rows[0].n === 9,
    );
  });
  afterAll(async () => {
    await rt?.close();
  });

  const auditRows = async () =>
    (await rt.pool.query(`SELECT ${CONTENT} FROM audit_logs ORDER BY event_id`)).rows;

  it('restores deleted audit rows as they were; a second run applies nothing; a dry run writes nothing', async () => {
    const live = await auditRows();
    await rt.pool.query(
      `DELETE FROM audit_logs WHERE event_id IN (SELECT event_id FROM audit_logs ORDER BY id DESC LIMIT 4)`,
    );
    expect(await auditRows()).toHaveLength(live.length - 4);

    const dry = await replayProjection({ pool: rt.pool, projection: 'audit', dryRun: true });
    expect(dry).toMatchObject({ read: 9, applied: 4, skipped_as_duplicate: 5, dry_run: true });
    expect(await auditRows()).toHaveLength(live.length - 4);

    const progress: number[] = [];
    const first = await replayProjection({
      pool: rt.pool,
      projection: 'audit',
      batchSize: 4,
      onProgress: (done) => progress.push(done),
    });
    expect(first).toMatchObject({ read: 9, applied: 4, skipped_as_duplicate: 5, ignored: 0, invalid: 0 });
    expect(progress).toEqual([0, 4, 8, 9]);
    expect(await auditRows()).toEqual(live);

    const second = await replayProjection({ pool: rt.pool, projection: 'audit' });
    expect(second).toMatchObject({ read: 9, applied: 0, skipped_as_duplicate: 9 });
    expect(await auditRows()).toEqual(live);
  });

  it('starts from a time or a log position', async () => {
    const { rows } = await rt.pool.query(
      `SELECT id, created_at FROM event_log WHERE topic = 'task-events' ORDER BY id`,
    );
    const fromPosition = await replayProjection({
      pool: rt.pool,
      projection: 'audit',
      from: String(rows[5].id),
      dryRun: true,
    });
    expect(fromPosition.read).toBe(rows.length - 5);
    const fromTime = await replayProjection({
      pool: rt.pool,
      projection: 'audit',
      from: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(fromTime.read).toBe(0);
    expect(() => parseFrom('yesterday')).toThrow(/ISO-8601 time or a log position/);
  });

  it('rebuilds the sync history of lost events once', async () => {
    const before = (await rt.pool.query(`SELECT event_id FROM sync_history ORDER BY event_id`)).rows;
    const lost = before.slice(0, 3).map((r) => r.event_id);
    await rt.pool.query('DELETE FROM sync_history WHERE event_id = ANY($1)', [lost]);
    await rt.pool.query('DELETE FROM sync_inbox WHERE event_id = ANY($1)', [lost]);

    expect(await replayProjection({ pool: rt.pool, projection: 'sync', dryRun: true })).toMatchObject({
      applied: 3,
      skipped_as_duplicate: 6,
    });
    expect(await replayProjection({ pool: rt.pool, projection: 'sync' })).toMatchObject({
      applied: 3,
      skipped_as_duplicate: 6,
    });
    expect((await rt.pool.query(`SELECT event_id FROM sync_history ORDER BY event_id`)).rows).toEqual(before);
    expect(await replayProjection({ pool: rt.pool, projection: 'sync' })).toMatchObject({
      applied: 0,
      skipped_as_duplicate: 9,
    });
  });
});
