import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningRuntime, startRuntime } from '@taskstream/platform';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import {
  freePort,
  readStackEnv,
  type Sidecar,
  type StackEnv,
  startSidecar,
} from '../../../scripts/stack/sidecar.js';
import { createNotificationService } from './index.js';
import {
  reminderCancelled,
  reminderScheduled,
  startPushService,
  startSmtpServer,
  type TestPushService,
  type TestSmtpServer,
  type TestTask,
  taskEvent,
} from './test-support/index.js';

// The notification service under Dapr on the real local stack (`bash scripts/stack/stack.sh up`):
// events through Kafka, reminder state in the state.postgresql component, jobs in the Dapr
// scheduler. Its own app id, so its consumer group, state keys and job namespace are its own.
const APP_ID = 'notification-e2e';
const JWT_SECRET = 'e2e-secret-e2e-secret-e2e-secret-0123456789';

let stack: StackEnv;
let database: { url: string; drop(): Promise<void> };
let smtp: TestSmtpServer;
let pushService: TestPushService;
let app: { rt: RunningRuntime; sidecar: Sidecar; stop(): Promise<void> } | undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

/**
 * Generous: a sidecar joining its Kafka consumer group may wait for a rebalance before the first
 * delivery (once more than a minute on a busy machine). A timeout shows the sidecar's last log lines.
 */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 100_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) {
      const logs = app?.sidecar.logs().slice(-3000) ?? '(no sidecar)';
      throw new Error(`${what}: not within ${timeoutMs} ms\n--- daprd log (tail) ---\n${logs}`);
    }
    await sleep(100);
  }
}

/** Per test: the first delivery may wait for the consumer group (see waitFor). */
const TEST_TIMEOUT_MS = 150_000;

/** A database of its own on the stack's PostgreSQL server, for the service's tables. */
async function createDatabase(adminUrl: string) {
  const name = `notification_e2e_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The service as `services/notification/dist/main.js` runs it under Dapr, with a sidecar of its own. */
async function startApp() {
  const [appPort, httpPort] = [await freePort(), await freePort()];
  const rt = await startRuntime([createNotificationService], {
    env: {
      TASKSTREAM_RUNTIME: 'dapr',
      APP_ID: 'notification',
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // The test push service listens on loopback.
      PUSH_ALLOW_LOOPBACK: 'true',
      HOST: '127.0.0.1',
      PORT: String(appPort),
      DATABASE_URL: database.url,
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'notification-e2e-')),
      JWT_SECRET,
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: String(httpPort),
      DAPR_API_TOKEN: stack.DAPR_API_TOKEN,
      APP_API_TOKEN: stack.APP_API_TOKEN,
      SMTP_URL: smtp.url,
      RETRY_DELAYS_MS: '500,1000',
    },
  });
  // Last: daprd reads the subscriptions once, when it starts.
  const sidecar = await startSidecar({ appId: APP_ID, appPort, httpPort, env: stack });
  return {
    rt,
    sidecar,
    async stop() {
      await sidecar.close();
      await rt.stop();
    },
  };
}

async function newUser(rt: RunningRuntime) {
  const userId = uuidv7();
  const email = `e2e-${userId.slice(-12)}@example.test`;
  const token = await rt.auth.sign({ userId, role: 'user', email });
  const browser = pushService.subscribe();
  const res = await fetch(`${rt.url}/api/push/subscriptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(browser.json),
  });
  expect(res.status).toBe(201);
  return { userId, email, token, endpoint: browser.json.endpoint };
}

const newTask = (userId: string): TestTask => ({
  id: uuidv7(),
  user_id: userId,
  title: `Dapr reminder ${randomBytes(3).toString('hex')}`,
  due_date: inSeconds(3600),
  time_zone: 'Europe/Rome',
  version: 1,
  sequence: 1,
});

const mailsTo = (email: string) => smtp.messages.filter((m) => m.to.includes(email));
const pushesTo = (endpoint: string) =>
  pushService.delivered().filter((p) => endpoint.endsWith(`/push/${p.endpointId}`));

/** The job as the Dapr scheduler holds it (undefined once it ran or was deleted). */
async function daprJob(sidecar: Sidecar, name: string) {
  const res = await fetch(`http://127.0.0.1:${sidecar.httpPort}/v1.0/jobs/${encodeURIComponent(name)}`, {
    headers: { 'dapr-api-token': stack.DAPR_API_TOKEN },
  });
  return res.status === 200 ? ((await res.json()) as { dueTime?: string }) : undefined;
}

/** A reminder of a new task of `user`, `seconds` from now, published and seen as a Dapr job. */
async function scheduleThroughDapr(
  running: { rt: RunningRuntime; sidecar: Sidecar },
  user: { userId: string },
  seconds: number,
  channels: Parameters<typeof reminderScheduled>[2],
) {
  const task = newTask(user.userId);
  const fireAt = inSeconds(seconds);
  await running.rt.ports.bus.publish([reminderScheduled(task, fireAt, channels)]);
  await waitFor('the Dapr job', () => daprJob(running.sidecar, `reminder-${task.id}.0`));
  return { task, fireAt };
}

beforeAll(async () => {
  stack = readStackEnv();
  database = await createDatabase(stack.DATABASE_URL);
  smtp = await startSmtpServer();
  pushService = await startPushService();
  app = await startApp();
});

afterAll(async () => {
  await app?.stop();
  await pushService?.close();
  await smtp?.close();
  await database?.drop();
});

describe('notification under Dapr (Kafka, state.postgresql, Dapr scheduler)', () => {
  it(
    'delivers a reminder once, on time, by email, Web Push and in-app',
    async () => {
      const { rt } = app!;
      const user = await newUser(rt);
      const { task, fireAt } = await scheduleThroughDapr(app!, user, 4, ['email', 'push', 'in_app']);

      const [mail] = await waitFor('the mail', () => mailsTo(user.email).length > 0 && mailsTo(user.email));
      await waitFor('the push message', () => pushesTo(user.endpoint).length > 0);
      expect(mail!.receivedAt).toBeGreaterThanOrEqual(Date.parse(fireAt));
      expect(mail!.subject).toBe(`Reminder: ${task.title}`);
      expect(pushesTo(user.endpoint)[0]!.payload.title).toBe(task.title);
      const inbox = await waitFor('the in-app notification', async () => {
        const res = await fetch(`${rt.url}/api/notifications`, {
          headers: { authorization: `Bearer ${user.token}` },
        });
        const body = await res.json();
        return body.items.length > 0 && body;
      });
      expect(inbox.items[0]).toMatchObject({ task_id: task.id, title: task.title });
      await sleep(2000);
      expect(mailsTo(user.email)).toHaveLength(1);
      expect(pushesTo(user.endpoint)).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'deletes the job when the task is completed, and sends nothing',
    async () => {
      const { rt, sidecar } = app!;
      const user = await newUser(rt);
      const { task, fireAt } = await scheduleThroughDapr(app!, user, 6, ['email']);
      const done = { ...task, version: 2, sequence: 2, status: 'completed' as const };
      await rt.ports.bus.publish([taskEvent('completed', done), reminderCancelled(done, 'task completed')]);
      await waitFor(
        'the job deleted',
        async () => (await daprJob(sidecar, `reminder-${task.id}.0`)) === undefined,
      );
      await sleep(Date.parse(fireAt) - Date.now() + 2000);
      expect(mailsTo(user.email)).toHaveLength(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'still delivers once after the app and its sidecar restart between scheduling and due time',
    async () => {
      const user = await newUser(app!.rt);
      const { fireAt } = await scheduleThroughDapr(app!, user, 12, ['email', 'in_app']);

      await app!.stop();
      app = undefined;
      app = await startApp();
      expect(Date.now()).toBeLessThan(Date.parse(fireAt));
      const [mail] = await waitFor(
        'the mail',
        () => mailsTo(user.email).length > 0 && mailsTo(user.email),
        40_000,
      );
      expect(mail!.receivedAt).toBeGreaterThanOrEqual(Date.parse(fireAt));
      await sleep(2000);
      expect(mailsTo(user.email)).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );
});
