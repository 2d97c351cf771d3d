import { randomUUID } from 'node:crypto';
import { Topics } from '@taskstream/contracts';
import type { Envelope, ServiceFactory } from '@taskstream/platform';
import { EVENT_LOG_RETENTION_JOB, outboxMigrations, runMigrations } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';

/**
 * A consumer of task-events with an inbox (event id unique, written with the effect) whose
 * handler can be poisoned, and a second consumer of the same topic that only counts.
 */
function probe() {
  const state = { broken: true, calls: new Map<string, number>(), otherCalls: new Map<string, number>() };
  const bump = (m: Map<string, number>, id: string) => m.set(id, (m.get(id) ?? 0) + 1);
  const factory: ServiceFactory = ({ pool }) => ({
    name: 'recurring',
    migrations: [
      {
        id: '001_dlq_probe',
        sql: 'CREATE TABLE dlq_probe_effects (event_id text PRIMARY KEY, effects int NOT NULL DEFAULT 1)',
      },
    ],
    subscriptions: [
      {
        topic: Topics.taskEvents,
        consumer: 'dlq-probe',
        async handler(event: Envelope) {
          bump(state.calls, event.id);
          if (state.broken) throw new Error(`poisoned: cannot handle ${event.id}`);
          await pool.query(
            'INSERT INTO dlq_probe_effects (event_id) VALUES ($1) ON CONFLICT (event_id) DO NOTHING',
            [event.id],
          );
        },
      },
      {
        topic: Topics.taskEvents,
        consumer: 'dlq-bystander',
        async handler(event: Envelope) {
          bump(state.otherCalls, event.id);
        },
      },
    ],
  });
  return { state, factory };
}

function event(userId: string): Envelope {
  const id = randomUUID();
  return {
    specversion: '1.0',
    id,
    type: 'com.taskstream.test.poison',
    source: '/test',
    time: new Date().toISOString(),
    traceparent: `00-${randomUUID().replace(/-/g, '')}-${'1'.repeat(16)}-01`,
    data: { user_id: userId },
  };
}

describe('dead letters: list, replay, discard', () => {
  let rt: TestRuntime;
  let p: ReturnType<typeof probe>;
  let adminToken: string;
  let userToken: string;
  const userId = randomUUID();

  beforeAll(async () => {
    p = probe();
    rt = await startTestRuntime([createTaskApiService, p.factory], { env: { RETRY_DELAYS_MS: '50,50' } });
    adminToken = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    userToken = await rt.auth.sign({ userId, role: 'user' });
  });
  afterAll(async () => {
    await rt?.close();
  });

  async function deadLettered(eventId: string) {
    return eventually(async () => {
      const res = await rt.request('GET', `/api/admin/dlq?topic=${Topics.taskEvents}&consumer=dlq-probe`, {
        token: adminToken,
      });
      return res.body.items?.find((i: { event: Envelope }) => i.event.id === eventId);
    });
  }
  const effects = async (eventId: string) =>
    (await rt.pool.query('SELECT effects FROM dlq_probe_effects WHERE event_id = $1', [eventId])).rows.map(
      (r) => r.effects,
    );

  it('keeps a poisoned event with its reason after the retries; a replay after the fix processes it once', async () => {
    p.state.broken = true;
    const poisoned = event(userId);
    await rt.ports.bus.publish([{ topic: Topics.taskEvents, partitionKey: userId, event: poisoned }]);

    const item = await deadLettered(poisoned.id);
    expect(item).toMatchObject({
      topic: Topics.taskEvents,
      consumer: 'dlq-probe',
      attempts: 3,
      status: 'pending',
    });
    expect(item.reason).toBe(`poisoned: cannot handle ${poisoned.id}`);
    expect(Date.parse(item.last_failed_at)).toBeGreaterThanOrEqual(Date.parse(item.first_failed_at));
    expect(p.state.calls.get(poisoned.id)).toBe(3);
    expect(await effects(poisoned.id)).toEqual([]);

    const stats = await rt.request('GET', '/api/admin/stats', { token: adminToken });
    expect(stats.status).toBe(200);
    expect(stats.body.dlq_size).toBe(1);
    expect(stats.body.topics[Topics.taskEvents].total).toBeGreaterThanOrEqual(1);
    expect(stats.body.consumers['dlq-probe']).toEqual({ lag: expect.any(Number) });
    expect(stats.body.consumer_lag).toEqual({ available: true });
    expect(stats.body.outbox_backlog).toBe(0);

    p.state.broken = false;
    const replay = await rt.request('POST', `/api/admin/dlq/${item.id}/replay`, { token: adminToken });
    expect(replay.status).toBe(202);
    await eventually(async () => (await effects(poisoned.id)).length === 1);
    expect(p.state.calls.get(poisoned.id)).toBe(4);

    // A second replay reaches the handler again, and its inbox keeps the effect single.
    expect((await rt.request('POST', `/api/admin/dlq/${item.id}/replay`, { token: adminToken })).status).toBe(
      202,
    );
    await eventually(async () => p.state.calls.get(poisoned.id) === 5);
    expect(await effects(poisoned.id)).toEqual([1]);
    // The other consumer of the topic handled the event once and was not handed the replays.
    expect(p.state.otherCalls.get(poisoned.id)).toBe(1);

    const listed = await rt.request('GET', `/api/admin/dlq?status=replayed`, { token: adminToken });
    expect(listed.body.items.map((i: { id: string }) => i.id)).toContain(item.id);
    const actions = await rt.pool.query(`SELECT action FROM admin_actions WHERE target = $1`, [
      `dead_letter:${item.id}`,
    ]);
    expect(actions.rows.map((r) => r.action)).toEqual(['dlq.replay', 'dlq.replay']);
  });

  it('discards with a reason (recorded), refuses to replay a discarded one, and replays a whole topic', async () => {
    p.state.broken = true;
    const [a, b, c] = [event(userId), event(userId), event(userId)];
    await rt.ports.bus.publish(
      [a, b, c].map((e) => ({ topic: Topics.taskEvents, partitionKey: userId, event: e })),
    );
    const [da] = [await deadLettered(a.id), await deadLettered(b.id), await deadLettered(c.id)];

    expect(
      (await rt.request('POST', `/api/admin/dlq/${da.id}/discard`, { token: adminToken, body: {} })).status,
    ).toBe(400);
    const discarded = await rt.request('POST', `/api/admin/dlq/${da.id}/discard`, {
      token: adminToken,
      body: { reason: 'test data, no task' },
    });
    expect(discarded.status).toBe(204);
    const action = await rt.pool.query(
      `SELECT actor, reason FROM admin_actions WHERE action = 'dlq.discard' AND target = $1`,
      [`dead_letter:${da.id}`],
    );
    expect(action.rows).toEqual([{ actor: expect.any(String), reason: 'test data, no task' }]);
    expect((await rt.request('POST', `/api/admin/dlq/${da.id}/replay`, { token: adminToken })).status).toBe(
      409,
    );
    expect((await rt.request('POST', '/api/admin/dlq/999999999/replay', { token: adminToken })).status).toBe(
      404,
    );

    p.state.broken = false;
    const all = await rt.request('POST', `/api/admin/dlq/replay?topic=${Topics.taskEvents}`, {
      token: adminToken,
    });
    expect(all.status).toBe(202);
    expect(all.body).toEqual({ replayed: 2 });
    await eventually(async () => (await effects(b.id)).length === 1 && (await effects(c.id)).length === 1);
    expect(await effects(a.id)).toEqual([]);
  });

  it('pages with a cursor', async () => {
    const first = await rt.request('GET', '/api/admin/dlq?limit=2', { token: adminToken });
    expect(first.body.items).toHaveLength(2);
    const second = await rt.request('GET', `/api/admin/dlq?limit=2&cursor=${first.body.next_cursor}`, {
      token: adminToken,
    });
    expect(second.status).toBe(200);
    const ids = [...first.body.items, ...second.body.items].map((i: { id: string }) => Number(i.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    const bogus = await rt.request('GET', '/api/admin/dlq?cursor=bogus', { token: adminToken });
    expect(bogus.status).toBe(400);
    expect(bogus.body.error.details).toEqual([{ path: 'cursor', message: expect.any(String) }]);
  });

  it('is for admins only', async () => {
    expect((await rt.request('GET', '/api/admin/dlq', { token: userToken })).status).toBe(403);
    expect((await rt.request('POST', '/api/admin/dlq/1/replay', { token: userToken })).status).toBe(403);
    expect(
      (await rt.request('POST', '/api/admin/dlq/1/discard', { token: userToken, body: { reason: 'x' } }))
        .status,
    ).toBe(403);
    expect((await rt.request('GET', '/api/admin/stats', { token: userToken })).status).toBe(403);
    expect((await rt.request('GET', '/api/admin/dlq')).status).toBe(401);
  });

  it('the daily retention job deletes published outbox rows and event-log rows older than EVENT_LOG_RETENTION_DAYS', async () => {
    const old = `now() - interval '${rt.config.EVENT_LOG_RETENTION_DAYS + 1} days'`;
    const stamp = randomUUID();
    const evt = (id: string) => JSON.stringify({ id, stamp });
    // The outbox is the dapr bus's (the embedded bus publishes into the event log): a database
    // that has both, as one that ran under Dapr before, gets both pruned.
    await runMigrations(rt.pool, 'outbox', outboxMigrations);
    await rt.pool.query(
      `INSERT INTO outbox (topic, partition_key, event, created_at, published_at) VALUES
         ('retention-test', 'k', $1, ${old}, ${old}),
         ('retention-test', 'k', $2, ${old}, NULL),
         ('retention-test', 'k', $3, now(), now())`,
      [evt('old-published'), evt('old-unpublished'), evt('recent')],
    );
    await rt.pool.query(
      `INSERT INTO event_log (topic, partition_key, event_id, event, created_at) VALUES
         ('retention-test', 'k', 'old', $1, ${old}), ('retention-test', 'k', 'recent', $2, now())`,
      [evt('old'), evt('recent')],
    );
    // No relay runs here: the unpublished row stays, whatever its age.
    const outboxIds = async () =>
      (
        await rt.pool.query(`SELECT event->>'id' AS id FROM outbox WHERE event->>'stamp' = $1 ORDER BY 1`, [
          stamp,
        ])
      ).rows.map((r) => r.id);
    expect(await outboxIds()).toEqual(['old-published', 'old-unpublished', 'recent']);

    expect(await rt.ports.jobs.get(EVENT_LOG_RETENTION_JOB)).toMatchObject({ schedule: '@daily' });
    await rt.ports.jobs.schedule({ name: `${EVENT_LOG_RETENTION_JOB}-now`, dueTime: '0s' });
    await eventually(async () => (await outboxIds()).length === 2);
    expect(await outboxIds()).toEqual(['old-unpublished', 'recent']);
    const log = await rt.pool.query(
      `SELECT event_id FROM event_log WHERE topic = 'retention-test' AND event_id IN ('old', 'recent') ORDER BY 1`,
    );
    expect(log.rows.map((r) => r.event_id)).toEqual(['recent']);
  });
});
