import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Channel, dataschemaFor } from '@taskstream/contracts';
import { createNotificationService } from '@taskstream/notification';
import {
  type Envelope,
  type OutgoingMessage,
  type RunningRuntime,
  type ServiceFactory,
  startRuntime,
} from '@taskstream/platform';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import webpush from 'web-push';
import { freePort, type StackEnv, startSidecar } from '../stack/sidecar.js';
import { acrossRuntimes, benchDatabase, percentile, round } from './support.js';

interface NotificationBenchOptions {
  /** Reminders, all due within `spreadSeconds`. */
  reminders?: number;
  users?: number;
  spreadSeconds?: number;
  /** Time given to take in the reminder.scheduled events before the first one is due (Dapr: 4×). */
  leadSeconds?: number;
  channels?: Channel[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** reminder.scheduled as task-api publishes it. */
function scheduled(userId: string, sequence: number, fireAt: string, channels: Channel[]): Envelope {
  const taskId = randomUUID();
  return {
    specversion: '1.0',
    id: uuidv7(),
    type: 'com.taskstream.reminder.scheduled',
    source: '/taskstream/task-api',
    time: new Date().toISOString(),
    subject: taskId,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor('reminder.scheduled'),
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
    data: {
      user_id: userId,
      task_id: taskId,
      sequence,
      task_version: 1,
      idempotency_key: `${taskId}:1:reminder.scheduled`,
      payload: {
        reminder_id: `${taskId}.0`,
        fire_at: fireAt,
        channels,
        title: `Bench task ${sequence}`,
        due_date: fireAt,
        time_zone: 'UTC',
      },
      changed_fields: [],
    },
  };
}

interface Harness {
  runtime: RunningRuntime;
  /** reminder.scheduled events the service has taken in so far. */
  handled(): number;
  stop(): Promise<void>;
}

/** The service, with a count of the reminder events its subscription handled. */
function countingFactory() {
  let handled = 0;
  const factory: ServiceFactory = (deps) => {
    const service = createNotificationService(deps);
    for (const sub of service.subscriptions ?? []) {
      if (sub.topic !== 'reminders') continue;
      const handler = sub.handler;
      sub.handler = async (event, ctx) => {
        const result = await handler(event, ctx);
        if (event.type === 'com.taskstream.reminder.scheduled') handled++;
        return result;
      };
    }
    return service;
  };
  return { factory, handled: () => handled };
}

const BASE_ENV = {
  LOG_LEVEL: 'warn',
  SEED_DEMO_USERS: 'false',
  NODE_ENV: 'production',
  JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
  SMTP_URL: undefined,
};

async function embeddedHarness(): Promise<Harness> {
  const database = await benchDatabase();
  const { factory, handled } = countingFactory();
  const runtime = await startRuntime([factory], {
    env: {
      ...process.env,
      ...BASE_ENV,
      DATABASE_URL: database.url,
      PORT: '0',
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-notification-')),
    },
  });
  return {
    runtime,
    handled,
    async stop() {
      await runtime.stop();
      await database.stop();
    },
  };
}

/** The same service under Dapr beside a sidecar of its own on the local stack (`scripts/stack/stack.sh up`). */
async function daprHarness(stack: StackEnv): Promise<Harness> {
  const name = `notification_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: stack.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(stack.DATABASE_URL);
  url.pathname = `/${name}`;
  const [appPort, httpPort] = [await freePort(), await freePort()];
  const { factory, handled } = countingFactory();
  // The service alone in production takes its Web Push keys from configuration (the chart's secret).
  const vapid = webpush.generateVAPIDKeys();
  const runtime = await startRuntime([factory], {
    env: {
      ...process.env,
      ...BASE_ENV,
      TASKSTREAM_RUNTIME: 'dapr',
      APP_ID: 'notification',
      HOST: '127.0.0.1',
      PORT: String(appPort),
      DATABASE_URL: url.toString(),
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-notification-')),
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: String(httpPort),
      DAPR_API_TOKEN: stack.DAPR_API_TOKEN,
      APP_API_TOKEN: stack.APP_API_TOKEN,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
    },
  });
  const sidecar = await startSidecar({ appId: 'notification-bench', appPort, httpPort, env: stack });
  return {
    runtime,
    handled,
    async stop() {
      await runtime.stop();
      await sidecar.close();
      const c = new pg.Client({ connectionString: stack.DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

interface Settings {
  count: number;
  users: number;
  spreadSeconds: number;
  leadSeconds: number;
  channels: Channel[];
}

/** Publishes the reminders (keys in parallel, each key in order), waits for all firings, measures. */
async function measure(harness: Harness, s: Settings) {
  const { runtime } = harness;
  const userIds = Array.from({ length: s.users }, () => uuidv7());
  const firstDue = Date.now() + s.leadSeconds * 1000;
  const lanes: OutgoingMessage[][] = Array.from({ length: 16 }, () => []);
  const sequences = new Map<string, number>();
  for (let i = 0; i < s.count; i++) {
    const u = i % s.users;
    const userId = userIds[u]!;
    const sequence = (sequences.get(userId) ?? 0) + 1;
    sequences.set(userId, sequence);
    const fireAt = new Date(firstDue + Math.floor((i / s.count) * s.spreadSeconds * 1000)).toISOString();
    lanes[u % lanes.length]!.push({
      topic: 'reminders',
      partitionKey: userId,
      event: scheduled(userId, sequence, fireAt, s.channels),
    });
  }

  const ingestStart = Date.now();
  await Promise.all(
    lanes.map(async (lane) => {
      for (let i = 0; i < lane.length; i += 500) await runtime.ports.bus.publish(lane.slice(i, i + 500));
    }),
  );
  const publishSeconds = (Date.now() - ingestStart) / 1000;
  // Taken in late (after the first fire time) still counts; the result says so.
  const ingestDeadline = firstDue + s.spreadSeconds * 1000 + 600_000;
  while (harness.handled() < s.count && Date.now() < ingestDeadline) await sleep(200);
  const ingestSeconds = (Date.now() - ingestStart) / 1000;
  const allScheduledBeforeDue = Date.now() < firstDue;

  const deadline = firstDue + s.spreadSeconds * 1000 + 300_000;
  // Only this run's users: a new consumer group may also read older events of the topic.
  const fired = async () =>
    Number(
      (
        await runtime.pool.query(
          `SELECT count(*) AS n FROM deliveries WHERE attempt = 1 AND user_id = ANY($1)`,
          [userIds],
        )
      ).rows[0].n,
    );
  while ((await fired()) < s.count * s.channels.length && Date.now() < deadline) await sleep(500);

  const { rows } = await runtime.pool.query<{ delay_ms: number }>(
    `SELECT extract(epoch FROM (created_at - fire_at)) * 1000 AS delay_ms FROM deliveries
     WHERE attempt = 1 AND channel = $1 AND user_id = ANY($2)`,
    [s.channels[0], userIds],
  );
  const delays = rows.map((r) => Number(r.delay_ms)).sort((a, b) => a - b);
  const settled = await runtime.pool.query(
    `SELECT extract(epoch FROM (max(updated_at) - max(fire_at))) * 1000 AS ms, count(*) FILTER (WHERE status = 'sent') AS sent
     FROM reminder_channels WHERE user_id = ANY($1)`,
    [userIds],
  );
  return {
    publish_s: round(publishSeconds, 2),
    ingest_s: round(ingestSeconds, 2),
    ingest_events_per_s: round(s.count / ingestSeconds),
    all_scheduled_before_due: String(allScheduledBeforeDue),
    fired: delays.length,
    deliveries_sent: Number(settled.rows[0].sent),
    early: delays.filter((d) => d < 0).length,
    fire_delay_p50_ms: round(percentile(delays, 50)),
    fire_delay_p99_ms: round(percentile(delays, 99)),
    fire_delay_max_ms: round(delays[delays.length - 1] ?? Number.NaN),
    last_settled_after_last_due_ms: round(Number(settled.rows[0].ms)),
  };
}

/**
 * 10,000 reminders due within the same minute, taken in through the `reminders` topic like
 * task-api's events, each scheduled as its own job. The firing delay of one reminder is the
 * start of its first delivery attempt minus its fire time. Embedded, and through the Dapr stack
 * (its own app id and database) when `scripts/stack/stack.sh up` is running;
 * NOTIFICATION_BENCH_RUNTIMES=embedded|dapr picks one.
 */
export async function benchNotification(options: NotificationBenchOptions = {}) {
  const env = process.env;
  const settings: Settings = {
    count: options.reminders ?? Number(env.NOTIFICATION_BENCH_REMINDERS ?? 10_000),
    users: options.users ?? Number(env.NOTIFICATION_BENCH_USERS ?? 1000),
    spreadSeconds: options.spreadSeconds ?? Number(env.NOTIFICATION_BENCH_SPREAD_SECONDS ?? 60),
    leadSeconds: options.leadSeconds ?? Number(env.NOTIFICATION_BENCH_LEAD_SECONDS ?? 150),
    channels: options.channels ??
      (env.NOTIFICATION_BENCH_CHANNELS?.split(',') as Channel[] | undefined) ?? ['in_app'],
  };
  const measured =
    (start: () => Promise<Harness>, overrides: Partial<Settings> = {}) =>
    async () => {
      const harness = await start();
      try {
        return await measure(harness, { ...settings, ...overrides });
      } finally {
        await harness.stop();
      }
    };
  return {
    reminders: settings.count,
    users: settings.users,
    channels: settings.channels.join(','),
    due_within_s: settings.spreadSeconds,
    ...(await acrossRuntimes(
      env.NOTIFICATION_BENCH_RUNTIMES,
      measured(embeddedHarness),
      // Taking events in through the sidecar (state API, Jobs API) is slower: more time before the minute.
      (stack) =>
        measured(() => daprHarness(stack), {
          leadSeconds: Number(env.NOTIFICATION_BENCH_DAPR_LEAD_SECONDS ?? settings.leadSeconds * 4),
        })(),
    )),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchNotification(), null, 2));
  process.exit(0);
}
