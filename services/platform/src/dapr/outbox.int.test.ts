import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createPool, type Pool, runMigrations, withTransaction } from '../db.js';
import { testEnvelope } from '../ports.contract.js';
import type { OutgoingMessage } from '../ports.js';
import { createTestDatabase, eventually, rowsRead, type TestDatabase } from '../test-support/index.js';
import {
  createOutboxRelay,
  type OutboxRelay,
  outboxMigrations,
  RELAY_READ_SQL,
  writeOutbox,
} from './outbox.js';

// The dapr bus's outbox and relay on a real PostgreSQL; what the relay publishes to is recorded
// here (the whole path through daprd and Kafka is the port contract's, dapr-ports.e2e.test.ts).
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let db: TestDatabase;
let pool: Pool;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 8);
  await runMigrations(pool, 'outbox', outboxMigrations);
}, 60_000);
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
}, 60_000);

function startRelay(app: string, publish: (m: OutgoingMessage[]) => Promise<void>) {
  const relay = createOutboxRelay({ pool, connectionString: db.url, app, publish, logger });
  relays.push(relay);
  return relay.start();
}

const message = (key: string, n: number): OutgoingMessage => ({
  topic: 'relay-test',
  partitionKey: key,
  event: testEnvelope(key, n),
});
const ns = (list: OutgoingMessage[]) => list.map((m) => (m.event.data as { n: number }).n);

describe('outbox relay', () => {
  test("publishes an app's committed rows once, in order, and marks them; other apps' rows are not its own", async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    const got: OutgoingMessage[] = [];
    await startRelay(app, async (m) => void got.push(...m));
    await withTransaction(pool, (tx) => writeOutbox(tx, app, [message('k', 0), message('k', 1)]));
    await withTransaction(pool, (tx) => writeOutbox(tx, 'another-app', [message('k', 9)]));
    await withTransaction(pool, (tx) => writeOutbox(tx, app, [message('k', 2)]));
    await eventually(async () => got.length === 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(ns(got)).toEqual([0, 1, 2]);
    const { rows } = await pool.query(
      `SELECT app, count(*) FILTER (WHERE published_at IS NULL)::int AS waiting FROM outbox GROUP BY app ORDER BY app`,
    );
    expect(rows.find((r) => r.app === app)?.waiting).toBe(0);
    expect(rows.find((r) => r.app === 'another-app')?.waiting).toBe(1);
  });

  test('a batch the bus refused is published again, in order, before anything after it', async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    const got: OutgoingMessage[] = [];
    let refusals = 2;
    await startRelay(app, async (m) => {
      if (refusals-- > 0) throw new Error('sidecar unavailable (test)');
      got.push(...m);
    });
    await withTransaction(pool, (tx) => writeOutbox(tx, app, [message('k', 0)]));
    await withTransaction(pool, (tx) => writeOutbox(tx, app, [message('k', 1)]));
    await eventually(async () => got.length >= 2, 15_000);
    expect(ns(got)).toEqual([0, 1]);
  });

  test('a row whose transaction took its id first but commits last is published first, not skipped', async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    const got: OutgoingMessage[] = [];
    await startRelay(app, async (m) => void got.push(...m));
    const early = new pg.Client({ connectionString: db.url });
    await early.connect();
    try {
      await early.query('BEGIN');
      await writeOutbox(early, app, [message('k', 0)]);
      await withTransaction(pool, (tx) => writeOutbox(tx, app, [message('k', 1)]));
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toHaveLength(0); // committed, but an older transaction may still add rows before it
      await early.query('COMMIT');
    } finally {
      await early.end();
    }
    await eventually(async () => got.length === 2);
    expect(ns(got)).toEqual([0, 1]);
  });

  test('reads on from the last row it published, not over the published rows before it', async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    // 3,000 rows published in their own transaction: their old versions stay in the
    // unpublished-rows index as dead entries until vacuum runs.
    await withTransaction(pool, async (tx) => {
      await tx.query(
        `INSERT INTO outbox (app, topic, partition_key, event)
         SELECT $1, 'relay-read-test', 'user-' || g, jsonb_build_object('n', g) FROM generate_series(1, 3000) g`,
        [app],
      );
      await tx.query('UPDATE outbox SET published_at = now() WHERE app = $1', [app]);
    });
    const { rows } = await pool.query(
      'SELECT tx::text AS tx, id FROM outbox WHERE app = $1 ORDER BY tx DESC, id DESC LIMIT 1',
      [app],
    );
    // Counted as a bitmap scan, whose index node reports every entry it matched, dead ones too
    // (a plain index scan reports only the rows it returns).
    const examined = (position: { tx: string; id: string }) =>
      withTransaction(pool, async (tx) => {
        await tx.query('SET LOCAL enable_indexscan = off');
        return rowsRead(
          tx,
          RELAY_READ_SQL,
          [app, position.tx, position.id],
          (node) => node['Index Name'] === 'outbox_unpublished',
        );
      });
    expect(await examined(rows[0])).toBe(0);
    // From the front, the same read steps over every dead entry.
    expect(await examined({ tx: '0', id: '0' })).toBeGreaterThanOrEqual(3000);
  });
});
