import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createPool, type Pool, runMigrations } from '../db.js';
import { createHttpApp, finishApp, listen, type RunningServer } from '../http.js';
import { createMetrics } from '../metrics.js';
import { opsMigrations } from '../ops/schema.js';
import { type ContractInstance, describePortContract, testEnvelope } from '../ports.contract.js';
import type {
  DeliveryContext,
  Envelope,
  EventBus,
  JobScheduler,
  JobTrigger,
  Subscription,
} from '../ports.js';
import { createTestDatabase, eventually, rowsRead, type TestDatabase } from '../test-support/index.js';
import { createEmbeddedEventBus, type EmbeddedBusOptions, FETCH_NEW_SQL } from './event-bus.js';
import { createEmbeddedJobScheduler, createEmbeddedPorts, embeddedMigrations } from './index.js';

// The embedded adapters on a real PostgreSQL (the int project's throwaway server), one database
// for this file: every instance below is a "process" on the same data.
const RETRY_DELAYS_MS = [300, 600, 1200];
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let db: TestDatabase;
let admin: Pool;
const pools: Pool[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  admin = createPool(db.url, 4);
  await runMigrations(admin, 'platform', embeddedMigrations);
  await runMigrations(admin, 'ops', opsMigrations);
}, 60_000);

afterAll(async () => {
  await Promise.all([...pools, admin].map((p) => (!p || p.ended ? undefined : p.end())));
  await db?.drop();
}, 60_000);

function pool() {
  const p = createPool(db.url, 20);
  pools.push(p);
  return p;
}

async function makeEmbedded(): Promise<ContractInstance> {
  const p = pool();
  const metrics = createMetrics();
  const app = createHttpApp({ logger, metrics, bodyLimitBytes: 1024 * 1024 });
  let server: RunningServer | undefined;
  const ports = createEmbeddedPorts({
    pool: p,
    connectionString: db.url,
    logger,
    metrics,
    retryDelaysMs: RETRY_DELAYS_MS,
    server: () => server?.server,
    appToken: 'contract-app-token',
  });
  return {
    ports,
    pool: p,
    app,
    appId: 'taskstream',
    retryDelaysMs: RETRY_DELAYS_MS,
    async start() {
      finishApp(app);
      server = await listen(app, 0, '127.0.0.1', 5000);
      await ports.bus.start();
      await ports.jobs.start();
    },
    async cleanup() {
      await ports.bus.stop();
      await ports.jobs.stop();
      await server?.close();
      await p.end();
    },
  };
}

describePortContract('embedded (PostgreSQL)', makeEmbedded);

// ---------------------------------------------------------------------------------------------
// What only the embedded adapters have: dead_letters rows, wake-ups, visibility of late commits,
// stop in the middle of a batch, consumer locks, the job wake-up timer.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const topicOf = (name: string) => `emb-${randomUUID().slice(0, 8)}-${name}`;

interface Recorded {
  event: Envelope;
  ctx: DeliveryContext;
  at: number;
}

/** A bus of its own (a "process"), started with the given subscriptions. */
async function startBus(subscriptions: Subscription[], overrides: Partial<EmbeddedBusOptions> = {}) {
  const bus = createEmbeddedEventBus({
    pool: pool(),
    connectionString: db.url,
    logger,
    retryDelaysMs: RETRY_DELAYS_MS,
    ...overrides,
  });
  for (const s of subscriptions) bus.subscribe(s);
  await bus.start();
  return bus;
}

function recorder() {
  const list: Recorded[] = [];
  const handler = async (event: Envelope, ctx: DeliveryContext) =>
    void list.push({ event, ctx, at: Date.now() });
  const ns = (key?: string) =>
    list
      .filter((r) => key === undefined || (r.event.data as { key: string }).key === key)
      .map((r) => (r.event.data as { n: number }).n);
  return { list, handler, ns };
}

describe('embedded EventBus', () => {
  const stops: EventBus[] = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((b) => b.stop()));
  }, 60_000);

  test('a dead letter is also a dead_letters row with the reason, the consumer and the attempts', async () => {
    const topic = topicOf('dl');
    const dlq = recorder();
    const bus = await startBus(
      [
        {
          topic,
          consumer: 'dl-test',
          handler: async () => {
            throw new Error('smtp 421 (test)');
          },
        },
        { topic: `${topic}.dlq`, consumer: 'dl-watch', handler: dlq.handler },
      ],
      { retryDelaysMs: [50, 100] },
    );
    stops.push(bus);
    const event = testEnvelope('user-dl', 1);
    await bus.publish([{ topic, partitionKey: 'user-dl', event }]);
    await eventually(async () => dlq.list.length > 0);
    expect(dlq.list[0]!.event).toMatchObject({
      id: event.id,
      deadletterreason: 'smtp 421 (test)',
      deadletterattempts: 3,
    });

    const { rows } = await admin.query('SELECT * FROM dead_letters WHERE topic = $1', [topic]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      topic,
      consumer: 'dl-test',
      partition_key: 'user-dl',
      event_id: event.id,
      event,
      reason: 'smtp 421 (test)',
      attempts: 3,
      status: 'pending',
    });
    expect(rows[0].first_failed_at.getTime()).toBeLessThanOrEqual(rows[0].last_failed_at.getTime());
    const left = await admin.query('SELECT count(*)::int AS n FROM consumer_retries WHERE topic = $1', [
      topic,
    ]);
    expect(left.rows[0].n).toBe(0);
    await eventually(async () =>
      (await bus.lag()).filter((l) => l.topic === topic).every((l) => l.lag === 0),
    );
  });

  test('wakes on NOTIFY: delivery does not wait for the fallback poll', async () => {
    const topic = topicOf('notify');
    const got = recorder();
    const bus = await startBus([{ topic, consumer: 'notify-test', handler: got.handler }], {
      fallbackPollMs: 600_000,
    });
    stops.push(bus);
    await sleep(200); // the first pass has run; the consumer now sleeps until woken
    for (let n = 0; n < 3; n++) {
      await bus.publish([{ topic, partitionKey: 'user-n', event: testEnvelope('user-n', n) }]);
      await eventually(async () => got.list.length === n + 1, 10_000);
    }
    expect(got.ns()).toEqual([0, 1, 2]);
  });

  test('a subscription naming its types gets only those, in order; the checkpoint passes the others', async () => {
    const topic = topicOf('types');
    const got = recorder();
    const bus = await startBus([
      { topic, consumer: 'types-test', types: ['com.taskstream.task.completed'], handler: got.handler },
    ]);
    stops.push(bus);
    const events = Array.from({ length: 40 }, (_, n) =>
      testEnvelope('user-t', n, {
        type: n % 4 === 0 ? 'com.taskstream.task.completed' : 'com.taskstream.task.created',
      }),
    );
    await bus.publish(events.map((event) => ({ topic, partitionKey: 'user-t', event })));
    await eventually(async () => got.list.length === 10, 10_000);
    expect(got.ns()).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    // Its checkpoint is past the last event, a created one it never ran the handler for.
    await eventually(async () =>
      (await bus.lag()).filter((l) => l.topic === topic).every((l) => l.lag === 0),
    );
    expect(got.list).toHaveLength(10);
  });

  test("publishInTransaction writes into the event log in the caller's transaction, seen by nobody until it commits", async () => {
    const topic = topicOf('in-tx');
    const got = recorder();
    const bus = await startBus([{ topic, consumer: 'in-tx-test', handler: got.handler }]);
    stops.push(bus);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      const { rows: own } = await client.query('SELECT pg_current_xact_id()::text AS tx');
      const events = [2, 0, 1].map((n) => testEnvelope('user-t', n));
      await bus.publishInTransaction(
        client,
        events.map((event) => ({ topic, partitionKey: 'user-t', event })),
      );
      const logged = await client.query(
        'SELECT tx::text AS tx, event_id FROM event_log WHERE topic = $1 ORDER BY id',
        [topic],
      );
      // One row per message, in the given order, under the caller's transaction id: no outbox.
      expect(logged.rows).toEqual(events.map((e) => ({ tx: own[0].tx, event_id: e.id })));
      const outside = await admin.query('SELECT count(*)::int AS n FROM event_log WHERE topic = $1', [topic]);
      expect(outside.rows[0].n).toBe(0);
      await sleep(200);
      expect(got.list).toHaveLength(0);
      await client.query('COMMIT');
      await eventually(async () => got.list.length === 3, 10_000);
      expect(got.ns()).toEqual([2, 0, 1]);
    } finally {
      await client.end();
    }
  });

  test('an event that committed behind an older open transaction is delivered when that one ends (no notification needed)', async () => {
    const topic = topicOf('horizon');
    const got = recorder();
    const bus = await startBus([{ topic, consumer: 'horizon-test', handler: got.handler }], {
      fallbackPollMs: 600_000,
    });
    stops.push(bus);
    const older = new pg.Client({ connectionString: db.url });
    await older.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()'); // holds back the visibility horizon
      await bus.publish([{ topic, partitionKey: 'user-h', event: testEnvelope('user-h', 0) }]);
      await sleep(300);
      expect(got.list).toHaveLength(0); // committed, but an older transaction may still add rows before it
      await older.query('COMMIT'); // writes nothing, notifies nothing
      await eventually(async () => got.list.length === 1, 10_000);
    } finally {
      await older.end();
    }
  });

  test('an event whose transaction commits after a later one is not skipped, and comes first', async () => {
    const topic = topicOf('late');
    const got = recorder();
    const bus = await startBus([{ topic, consumer: 'late-test', handler: got.handler }]);
    stops.push(bus);
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    try {
      // A transaction takes a lower id, a later one commits first.
      await writer.query('BEGIN');
      const early = testEnvelope('user-l', 0);
      await writer.query(
        `INSERT INTO event_log (topic, partition_key, event_id, event) VALUES ($1, 'user-l', $2, $3)`,
        [topic, early.id, JSON.stringify(early)],
      );
      await bus.publish([{ topic, partitionKey: 'user-l', event: testEnvelope('user-l', 1) }]);
      await sleep(300);
      await writer.query(`SELECT pg_notify('taskstream_events', $1)`, [topic]);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    await eventually(async () => got.list.length === 2);
    expect(got.ns()).toEqual([0, 1]);
  });

  test('stop() lets the handler in hand finish; events not begun wait and come in order after a restart, none twice', async () => {
    const topic = topicOf('stop');
    const got = recorder();
    const slow = async (event: Envelope, ctx: DeliveryContext) => {
      await sleep(40);
      await got.handler(event, ctx);
    };
    const first = await startBus([{ topic, consumer: 'stop-test', handler: slow }]);
    await first.publish(
      Array.from({ length: 30 }, (_, n) => ({
        topic,
        partitionKey: 'user-s',
        event: testEnvelope('user-s', n),
      })),
    );
    await eventually(async () => got.list.length >= 3);
    await first.stop();
    const atStop = got.list.length;
    expect(atStop).toBeLessThan(30);
    await sleep(200);
    expect(got.list).toHaveLength(atStop); // nothing runs after stop() resolved

    // Published while stopped: queued behind the parked ones of the same key.
    await first.publish([{ topic, partitionKey: 'user-s', event: testEnvelope('user-s', 30) }]);
    const second = await startBus([{ topic, consumer: 'stop-test', handler: slow }]);
    stops.push(second);
    await eventually(async () => got.list.length >= 31, 30_000);
    await sleep(300);
    expect(got.ns()).toEqual([...Array(31).keys()]);
  });

  test('a failed event waiting for its retry survives a restart, and holds back its key until then', async () => {
    const topic = topicOf('parked');
    const got = recorder();
    let failing = true;
    const handler = async (event: Envelope, ctx: DeliveryContext) => {
      await got.handler(event, ctx);
      if (failing && (event.data as { n: number }).n === 0) throw new Error('down (test)');
    };
    const first = await startBus([{ topic, consumer: 'parked-test', handler }], {
      retryDelaysMs: [1500, 1500],
    });
    await first.publish([{ topic, partitionKey: 'user-p', event: testEnvelope('user-p', 0) }]);
    await eventually(async () => got.list.length === 1);
    await first.stop();
    failing = false;
    await first.publish([
      { topic, partitionKey: 'user-p', event: testEnvelope('user-p', 1) },
      { topic, partitionKey: 'user-other', event: testEnvelope('user-other', 0) },
    ]);
    const second = await startBus([{ topic, consumer: 'parked-test', handler }], {
      retryDelaysMs: [1500, 1500],
    });
    stops.push(second);
    await eventually(async () => got.ns('user-p').length === 3, 20_000);
    expect(got.list.map((r) => [(r.event.data as { key: string }).key, r.ctx.attempt])).toEqual([
      ['user-p', 1],
      ['user-other', 1], // not held back by user-p
      ['user-p', 2],
      ['user-p', 1],
    ]);
    expect(got.list[2]!.at - got.list[0]!.at).toBeGreaterThanOrEqual(1500 - 5);
  });

  test("with an order key, a failing event holds back only its own key: the same user's other keys go on, its own wait in order", async () => {
    const topic = topicOf('order-key');
    const got = recorder();
    let failing = true;
    const subject = (event: Envelope) => String(event.subject);
    const handler = async (event: Envelope, ctx: DeliveryContext) => {
      await got.handler(event, ctx);
      if (failing && subject(event) === 'task-a') throw new Error('down (test)');
    };
    const bus = await startBus([{ topic, consumer: 'order-key-test', handler, orderKey: subject }], {
      retryDelaysMs: [1000],
    });
    stops.push(bus);
    const on = (task: string, n: number) => ({
      topic,
      partitionKey: 'user-k',
      event: { ...testEnvelope('user-k', n), subject: task },
    });
    await bus.publish([on('task-a', 0), on('task-b', 1), on('task-a', 2), on('task-b', 3)]);
    // task-b's events go through while task-a's first one waits for its retry, and task-a's second waits behind it.
    await eventually(async () => got.list.filter((r) => r.event.subject === 'task-b').length === 2);
    expect(
      got.list.filter((r) => r.event.subject === 'task-a').map((r) => (r.event.data as { n: number }).n),
    ).toEqual([0]);
    failing = false;
    await eventually(async () => got.list.length === 5, 20_000);
    expect(
      got.list
        .filter((r) => r.event.subject === 'task-a')
        .map((r) => [(r.event.data as { n: number }).n, r.ctx.attempt]),
    ).toEqual([
      [0, 1],
      [0, 2],
      [2, 1],
    ]);
  });

  test('a subscription concurrency runs that many order keys at once (default: the bus setting)', async () => {
    const topic = topicOf('concurrency');
    const peak = { wide: 0, narrow: 0 };
    const running = { wide: 0, narrow: 0 };
    const handlerFor = (name: 'wide' | 'narrow') => async () => {
      running[name]++;
      peak[name] = Math.max(peak[name], running[name]);
      await new Promise((r) => setTimeout(r, 50));
      running[name]--;
    };
    const bus = await startBus(
      [
        { topic, consumer: 'wide', handler: handlerFor('wide'), orderKey: (e) => e.id, concurrency: 200 },
        { topic, consumer: 'narrow', handler: handlerFor('narrow'), orderKey: (e) => e.id },
      ],
      { keyConcurrency: 4 },
    );
    stops.push(bus);
    await bus.publish(
      Array.from({ length: 100 }, (_, n) => ({
        topic,
        partitionKey: 'user-c',
        event: testEnvelope('user-c', n),
      })),
    );
    await eventually(async () => {
      const lag = await bus.lag();
      return lag.filter((l) => l.topic === topic).every((l) => l.lag === 0) && running.narrow === 0;
    }, 20_000);
    expect(peak.wide).toBe(100);
    expect(peak.narrow).toBe(4);
  });

  test('a checkpoint commit that fails, while the next batch is under way, delivers the events again: none is lost', async () => {
    const topic = topicOf('checkpoint-fails');
    const consumer = `checkpoint-fails-${randomUUID().slice(0, 8)}`;
    const got = recorder();
    // The first checkpoint update of this consumer fails (a sequence, so the failure is not rolled back with it).
    await admin.query(`CREATE SEQUENCE "${consumer}"`);
    await admin.query(
      `CREATE FUNCTION "${consumer}"() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.consumer = '${consumer}' AND nextval('"${consumer}"') = 1 THEN RAISE EXCEPTION 'checkpoint down (test)'; END IF;
         RETURN NEW;
       END $$`,
    );
    await admin.query(
      `CREATE TRIGGER "${consumer}" BEFORE UPDATE ON consumer_checkpoints FOR EACH ROW EXECUTE FUNCTION "${consumer}"()`,
    );
    try {
      const bus = await startBus([{ topic, consumer, handler: got.handler }]);
      stops.push(bus);
      const batch = (from: number) =>
        [0, 1, 2].map((i) => ({ topic, partitionKey: 'user-f', event: testEnvelope('user-f', from + i) }));
      await bus.publish(batch(0));
      await eventually(async () => got.list.length >= 3);
      await bus.publish(batch(3));
      await eventually(async () => {
        const lag = await bus.lag();
        return lag.some((l) => l.consumer === consumer && l.lag === 0);
      }, 20_000);
      // At least once: the first batch (its checkpoint never stored) came again, in order, and nothing is missing.
      const ns = got.ns();
      expect(new Set(ns)).toEqual(new Set([0, 1, 2, 3, 4, 5]));
      expect(ns.slice(0, 3)).toEqual([0, 1, 2]);
      expect(ns.length).toBeGreaterThan(6);
    } finally {
      await admin.query(`DROP TRIGGER "${consumer}" ON consumer_checkpoints`);
      await admin.query(`DROP FUNCTION "${consumer}"()`);
      await admin.query(`DROP SEQUENCE "${consumer}"`);
    }
  });

  test('a consumer fetch reads from its checkpoint on, however long the retained log', async () => {
    // Once a fetch filtered the whole retained log of the topic up to the checkpoint.
    const topic = topicOf('long-log');
    await admin.query(
      `INSERT INTO event_log (topic, partition_key, event_id, event)
       SELECT $1, 'user-' || (g % 50), 'e-' || g, jsonb_build_object('n', g) FROM generate_series(1, 30000) g`,
      [topic],
    );
    await admin.query(
      `INSERT INTO consumer_checkpoints (consumer, topic, tx, last_id)
       SELECT 'long-log', $1, tx, id FROM event_log WHERE topic = $1 ORDER BY tx, id OFFSET 29900 LIMIT 1`,
      [topic],
    );
    await admin.query('ANALYZE event_log');
    await admin.query('ANALYZE consumer_checkpoints');
    const examined = await rowsRead(
      admin,
      FETCH_NEW_SQL,
      ['long-log', topic, null],
      (node) => node['Relation Name'] === 'event_log',
    );
    expect(examined).toBe(99); // the events after the checkpoint, and no others
  });

  test('the listener reconnects after its connection is killed; wake-ups work again', async () => {
    const topic = topicOf('reconnect');
    const got = recorder();
    const bus = await startBus([{ topic, consumer: 'reconnect-test', handler: got.handler }], {
      fallbackPollMs: 600_000,
    });
    stops.push(bus);
    const listeners = async () =>
      (
        await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'taskstream-event-bus'`,
        )
      ).rows.map((r) => r.pid as number);
    const before = await listeners();
    expect(before.length).toBeGreaterThanOrEqual(1);
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
    await eventually(async () => (await listeners()).some((pid) => !before.includes(pid)), 20_000);
    await bus.publish([{ topic, partitionKey: 'user-r', event: testEnvelope('user-r', 0) }]);
    await eventually(async () => got.list.length === 1, 10_000);
  });

  test('a consumer runs in one process at a time; another takes over when it stops', async () => {
    const topic = topicOf('twin');
    const a = recorder();
    const b = recorder();
    const busA = await startBus([{ topic, consumer: 'twin', handler: a.handler }]);
    const busB = await startBus([{ topic, consumer: 'twin', handler: b.handler }]);
    stops.push(busA, busB);
    await busA.publish(
      Array.from({ length: 10 }, (_, n) => ({
        topic,
        partitionKey: 'user-t',
        event: testEnvelope('user-t', n),
      })),
    );
    await eventually(async () => a.list.length + b.list.length === 10);
    expect(a.list.length === 0 || b.list.length === 0).toBe(true);
    const [owner, other] = a.list.length > 0 ? [busA, busB] : [busB, busA];
    const [ownerRec, otherRec] = a.list.length > 0 ? [a, b] : [b, a];
    await owner.stop();
    await other.publish([{ topic, partitionKey: 'user-t', event: testEnvelope('user-t', 10) }]);
    await eventually(async () => otherRec.list.length === 1, 20_000);
    expect([...ownerRec.ns(), ...otherRec.ns()]).toEqual([...Array(11).keys()]);
  });

  test('every consumer of a topic gets every event', async () => {
    const topic = topicOf('fanout');
    const audit = recorder();
    const sync = recorder();
    const bus = await startBus([
      { topic, consumer: 'audit', handler: audit.handler },
      { topic, consumer: 'sync', handler: sync.handler },
    ]);
    stops.push(bus);
    await bus.publish(
      [0, 1, 2].map((n) => ({ topic, partitionKey: 'user-f', event: testEnvelope('user-f', n) })),
    );
    await eventually(async () => audit.list.length === 3 && sync.list.length === 3);
    expect(audit.ns()).toEqual([0, 1, 2]);
    expect(sync.ns()).toEqual([0, 1, 2]);
  });
});

describe('embedded JobScheduler', () => {
  const schedulers: JobScheduler[] = [];
  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((s) => s.stop()));
  }, 60_000);

  async function startScheduler(
    prefix: string,
    handle: (t: JobTrigger) => Promise<void>,
    pollIntervalMs = 600_000,
  ) {
    // A poll of 10 minutes: whatever fires in these tests was woken by the scheduler's own timer.
    const jobs = createEmbeddedJobScheduler({ pool: pool(), logger, pollIntervalMs });
    jobs.onTrigger(prefix, handle);
    await jobs.start();
    schedulers.push(jobs);
    return jobs;
  }

  test('a due job fires without waiting for the poll; a fired one-shot job is gone', async () => {
    const prefix = `emb-${randomUUID().slice(0, 8)}-`;
    const fired: JobTrigger[] = [];
    const jobs = await startScheduler(prefix, async (t) => void fired.push(t));
    await jobs.schedule({ name: `${prefix}a`, dueTime: '1s', data: 1 });
    await jobs.schedule({ name: `${prefix}b`, dueTime: '500ms', data: 2 });
    await eventually(async () => fired.length === 2, 10_000);
    expect(fired.map((f) => f.data)).toEqual([2, 1]);
    await eventually(async () => (await jobs.get(`${prefix}a`)) === undefined);
  });

  test('replacing or deleting a repeating job while its trigger runs does not bring the old one back', async () => {
    const prefix = `emb-${randomUUID().slice(0, 8)}-`;
    const fired: JobTrigger[] = [];
    let release: () => void = () => undefined;
    let block = true;
    const jobs = await startScheduler(prefix, async (t) => {
      fired.push(t);
      if (block) {
        block = false;
        await new Promise<void>((r) => {
          release = r;
        });
      }
    });
    const replaced = `${prefix}replaced`;
    await jobs.schedule({ name: replaced, schedule: '@every 1s', data: 'old' });
    await eventually(async () => fired.length === 1);
    await jobs.schedule({ name: replaced, dueTime: '1s', data: 'new' });
    release();
    await eventually(async () => fired.some((f) => f.data === 'new'));
    await sleep(2500);
    expect(fired.map((f) => f.data)).toEqual(['old', 'new']);

    block = true;
    const deleted = `${prefix}deleted`;
    await jobs.schedule({ name: deleted, schedule: '@every 1s', data: 'gone' });
    await eventually(async () => fired.some((f) => f.data === 'gone'));
    await jobs.delete(deleted);
    release();
    await sleep(2500);
    expect(fired.filter((f) => f.data === 'gone')).toHaveLength(1);
    expect(await jobs.get(deleted)).toBeUndefined();
  });

  test('schedule() works before start() (e.g. from a migration hook), and the job fires once started', async () => {
    const prefix = `emb-${randomUUID().slice(0, 8)}-`;
    const fired: JobTrigger[] = [];
    const early = createEmbeddedJobScheduler({ pool: pool(), logger });
    await early.schedule({ name: `${prefix}early`, dueTime: '200ms', data: 'early' });
    await early.stop();
    await startScheduler(prefix, async (t) => void fired.push(t));
    await eventually(async () => fired.length === 1, 10_000);
  });
});
