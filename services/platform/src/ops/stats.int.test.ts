import { createPool, type Pool, runMigrations } from '../db.js';
import type { ConsumerLag, EventBus } from '../ports.js';
import { createTestDatabase, type TestDatabase } from '../test-support/index.js';
import { opsMigrations } from './schema.js';
import { adminStats } from './stats.js';

/** A bus that only has what adminStats uses; `lag` as given. */
function bus(lag?: () => Promise<ConsumerLag[]>): EventBus {
  const none = async () => undefined;
  return {
    publish: none,
    publishInTransaction: none,
    recordsDeadLetters: true,
    acknowledgesInDatabase: true,
    subscribe: () => undefined,
    start: none,
    stop: none,
    ...(lag ? { lag } : {}),
  };
}

describe('adminStats: consumer lag through the bus port, and whether it was measured', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 2);
    await runMigrations(pool, 'ops', opsMigrations);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  test("the bus's lag, summed per consumer over its topics", async () => {
    const stats = await adminStats(
      pool,
      bus(async () => [
        { consumer: 'notification', topic: 'reminders', lag: 2 },
        { consumer: 'notification', topic: 'task-events', lag: 3 },
        { consumer: 'audit', topic: 'task-events', lag: 0 },
      ]),
    );
    expect(stats.consumers).toEqual({ notification: { lag: 5 }, audit: { lag: 0 } });
    expect(stats.consumer_lag).toEqual({ available: true });
  });

  test('a bus without a lag reader (dapr, no KAFKA_BROKERS): not measured, and it says so', async () => {
    const stats = await adminStats(pool, bus());
    expect(stats.consumers).toEqual({});
    expect(stats.consumer_lag).toEqual({
      available: false,
      reason: expect.stringContaining('KAFKA_BROKERS'),
    });
  });

  test('a broker that does not answer: the other stats still answer, the lag says why it is missing', async () => {
    const stats = await adminStats(
      pool,
      bus(async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:19092');
      }),
    );
    expect(stats.consumers).toEqual({});
    expect(stats.consumer_lag).toEqual({
      available: false,
      reason: expect.stringContaining('ECONNREFUSED 127.0.0.1:19092'),
    });
    expect(stats.dlq_size).toBe(0);
  });
});
