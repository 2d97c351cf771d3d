import { signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { IDEMPOTENCY_PRUNE_JOB } from './housekeeping.js';
import { createTaskApiService } from './index.js';

let rt: TestRuntime;
beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService], { env: { IDEMPOTENCY_KEY_TTL_HOURS: '24' } });
}, 60_000);
afterAll(async () => rt?.close());

const keysOf = async (userId: string) =>
  (
    await rt.pool.query<{ key: string }>('SELECT key FROM idempotency_keys WHERE user_id = $1 ORDER BY key', [
      userId,
    ])
  ).rows.map((r) => r.key);

describe('idempotency keys expire', () => {
  it('the hourly job deletes keys older than IDEMPOTENCY_KEY_TTL_HOURS; the key then makes a new task', async () => {
    const { token, id } = await signUp(rt, {
      email: `keys-${Date.now()}@example.com`,
      password: 'correct horse battery',
      name: 'Keys',
    });
    const create = (key: string) =>
      rt.request('POST', '/api/tasks', {
        token,
        body: { title: 'Once' },
        headers: { 'idempotency-key': key },
      });
    const first = await create('old-key');
    expect((await create('old-key')).body.id).toBe(first.body.id);
    const recent = await create('recent-key');
    expect(recent.status).toBe(201);
    await rt.pool.query(
      `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1 AND key = 'old-key'`,
      [id],
    );
    expect(await keysOf(id)).toEqual(['old-key', 'recent-key']);

    expect(await rt.ports.jobs.get(IDEMPOTENCY_PRUNE_JOB)).toMatchObject({ schedule: '@hourly' });
    await rt.ports.jobs.schedule({ name: `${IDEMPOTENCY_PRUNE_JOB}-now`, dueTime: '0s' });
    const deadline = Date.now() + 15_000;
    while ((await keysOf(id)).length > 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await keysOf(id)).toEqual(['recent-key']);

    // A retry within the TTL still gets the first answer; the expired key is a new request.
    expect((await create('recent-key')).body.id).toBe(recent.body.id);
    const again = await create('old-key');
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);
  }, 60_000);
});
