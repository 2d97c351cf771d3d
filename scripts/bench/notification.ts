import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Channel, dataschemaFor } from '@taskstream/contracts';
import { createNotificationService } from '@taskstream/notification';
import { type Envelope, type OutgoingMessage, startRuntime } from '@taskstream/platform';
import { v7 as uuidv7 } from 'uuid';
import { benchDatabase, percentile, round } from './support.js';

interface NotificationBenchOptions {
  /** Reminders, all due within `spreadSeconds`. */
  reminders?: number;
  users?: number;
  spreadSeconds?: number;
  /** Time given to take in the reminder.scheduled events before the first one is due. */
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

/**
 * 10,000 reminders due within the same minute, taken in through the `reminders` topic like
 * task-api's events, each scheduled as its own job. The firing delay of one reminder is the
 * start of its first delivery attempt minus its fire time; also how long the whole firing
 * (in-app row, notification.created, reminder.sent) took to the last one.
 */
export async function benchNotification(options: NotificationBenchOptions = {}) {
  const env = process.env;
  const count = options.reminders ?? Number(env.NOTIFICATION_BENCH_REMINDERS ?? 10_000);
  const users = options.users ?? Number(env.NOTIFICATION_BENCH_USERS ?? 1000);
  const spreadSeconds = options.spreadSeconds ?? Number(env.NOTIFICATION_BENCH_SPREAD_SECONDS ?? 60);
  const leadSeconds = options.leadSeconds ?? Number(env.NOTIFICATION_BENCH_LEAD_SECONDS ?? 60);
  const channels = options.channels ??
    (env.NOTIFICATION_BENCH_CHANNELS?.split(',') as Channel[] | undefined) ?? ['in_app'];

  const database = await benchDatabase();
  const runtime = await startRuntime([createNotificationService], {
    env: {
      ...env,
      DATABASE_URL: database.url,
      PORT: '0',
      LOG_LEVEL: 'warn',
      SEED_DEMO_USERS: 'false',
      NODE_ENV: 'production',
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
      SMTP_URL: undefined,
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-notification-')),
    },
  });
  try {
    const userIds = Array.from({ length: users }, () => uuidv7());
    const sequences = new Map<string, number>();
    const firstDue = Date.now() + leadSeconds * 1000;
    const messages: OutgoingMessage[] = [];
    for (let i = 0; i < count; i++) {
      const userId = userIds[i % users]!;
      const sequence = (sequences.get(userId) ?? 0) + 1;
      sequences.set(userId, sequence);
      const fireAt = new Date(firstDue + Math.floor((i / count) * spreadSeconds * 1000)).toISOString();
      messages.push({
        topic: 'reminders',
        partitionKey: userId,
        event: scheduled(userId, sequence, fireAt, channels),
      });
    }

    const ingestStart = Date.now();
    for (let i = 0; i < messages.length; i += 1000)
      await runtime.ports.bus.publish(messages.slice(i, i + 1000));
    const scheduledCount = async () =>
      Number(
        (await runtime.pool.query(`SELECT count(*) AS n FROM state_store WHERE key LIKE 'reminder:%'`))
          .rows[0].n,
      );
    while ((await scheduledCount()) < count) {
      if (Date.now() > firstDue + spreadSeconds * 1000)
        throw new Error('reminders still not taken in when the minute was over');
      await sleep(200);
    }
    const ingestSeconds = (Date.now() - ingestStart) / 1000;
    const allScheduledBeforeDue = Date.now() < firstDue;

    const deadline = firstDue + spreadSeconds * 1000 + 300_000;
    const fired = async () =>
      Number((await runtime.pool.query(`SELECT count(*) AS n FROM deliveries WHERE attempt = 1`)).rows[0].n);
    while ((await fired()) < count * channels.length && Date.now() < deadline) await sleep(500);

    const { rows } = await runtime.pool.query<{ delay_ms: number }>(
      `SELECT extract(epoch FROM (created_at - fire_at)) * 1000 AS delay_ms FROM deliveries WHERE attempt = 1 AND channel = $1`,
      [channels[0]],
    );
    const delays = rows.map((r) => Number(r.delay_ms)).sort((a, b) => a - b);
    const lastDone = await runtime.pool.query(
      `SELECT extract(epoch FROM (max(updated_at) - max(fire_at))) * 1000 AS ms, count(*) FILTER (WHERE status = 'sent') AS sent,
         count(*) FILTER (WHERE outcome_published) AS published
       FROM reminder_channels`,
    );
    return {
      reminders: count,
      users,
      channels: channels.join(','),
      due_within_s: spreadSeconds,
      ingest_s: round(ingestSeconds, 2),
      ingest_events_per_s: round(count / ingestSeconds),
      all_scheduled_before_due: String(allScheduledBeforeDue),
      fired: delays.length,
      deliveries_sent: Number(lastDone.rows[0].sent),
      outcomes_published: Number(lastDone.rows[0].published),
      early: delays.filter((d) => d < 0).length,
      fire_delay_p50_ms: round(percentile(delays, 50)),
      fire_delay_p99_ms: round(percentile(delays, 99)),
      fire_delay_max_ms: round(delays[delays.length - 1] ?? Number.NaN),
      last_settled_after_last_due_ms: round(Number(lastDone.rows[0].ms)),
    };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchNotification(), null, 2));
  process.exit(0);
}
