import { randomUUID } from 'node:crypto';
import { EventSchemas, type Task } from '@taskstream/contracts';
import pg from 'pg';
import { appCaller, eventually, signUpThrough } from '../../../scripts/stack/e2e-client.js';
import { endOffsets, readTopic, saramaPartition } from '../../../scripts/stack/kafka.js';
import { readStackEnv, stackAppUrls } from '../../../scripts/stack/sidecar.js';

/**
 * The services as `bash scripts/stack/stack.sh up` runs them: each app alone
 * (`services/<svc>/dist/main.js`, TASKSTREAM_RUNTIME=dapr) beside its own daprd, Kafka behind
 * the sidecars, the Dapr scheduler for jobs. Only real REST calls on the apps' ports; what the
 * test sees is what a user or an operator would.
 */
const env = readStackEnv();
const apps = stackAppUrls(env);
const SERVICES = ['task-api', 'recurring', 'notification', 'audit', 'sync', 'payments', 'fraud'] as const;
const TOPIC = 'task-events';

const call = appCaller(apps);

const register = () => signUpThrough(call, 'Stack E2E');

/** A registered user made admin in the database, as an operator would, and logged in again. */
async function registerAdmin(db: pg.Client): Promise<string> {
  const admin = await register();
  await db.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [admin.userId]);
  const res = await call('task-api', 'POST', '/api/auth/login', {
    body: { email: admin.email, password: admin.password },
  });
  expect(res.status).toBe(200);
  return res.body.token;
}

async function createTask(token: string, body: Record<string, unknown>): Promise<Task> {
  const res = await call('task-api', 'POST', '/api/tasks', { token, body });
  expect(res.status).toBe(201);
  return res.body as Task;
}

/**
 * Makes audit's storage refuse the rows whose payload contains `marker` (a trigger raising
 * `audit storage refused the row (<marker>)`), so its consumer keeps failing on that event while
 * the others go on. Each refusal first takes a number from a sequence, which a rollback does not
 * return, so `tries()` counts them. `fix()` drops the trigger; `cleanup()` drops everything.
 */
async function refuseAuditRows(db: pg.Client, marker: string) {
  const fn = `e2e_refuse_${marker.replaceAll('-', '_')}`;
  await db.query(`CREATE SEQUENCE ${fn}_tries`);
  await db.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.payload::text LIKE '%${marker}%' THEN
        PERFORM nextval('${fn}_tries');
        RAISE EXCEPTION 'audit storage refused the row (${marker})';
      END IF;
      RETURN NEW;
    END $$`);
  await db.query(`CREATE TRIGGER ${fn} BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
  return {
    async tries(): Promise<number> {
      const { rows } = await db.query(
        `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM ${fn}_tries`,
      );
      return Number(rows[0].n);
    },
    fix: () => db.query(`DROP TRIGGER IF EXISTS ${fn} ON audit_logs`),
    async cleanup() {
      await db.query(`DROP TRIGGER IF EXISTS ${fn} ON audit_logs`).catch(() => undefined);
      await db.query(`DROP FUNCTION IF EXISTS ${fn}()`).catch(() => undefined);
      await db.query(`DROP SEQUENCE IF EXISTS ${fn}_tries`).catch(() => undefined);
    },
  };
}

describe('the stack: every service alone beside its daprd, Kafka, the Dapr scheduler', () => {
  let user: { token: string; userId: string };

  beforeAll(async () => {
    // A stack that was just started may still be migrating: wait for task-api before registering.
    await eventually('task-api ready', async () =>
      (await call('task-api', 'GET', '/readyz')).status === 200 ? true : undefined,
    );
    user = await register();
  }, 120_000);

  test.each(SERVICES)(
    '%s answers /readyz 200 on its own port',
    async (service) => {
      expect(apps[service]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const ready = await eventually(`${service} ready`, async () => {
        const res = await call(service, 'GET', '/readyz');
        return res.status === 200 ? res : undefined;
      });
      expect(ready.body.status).toBe('ready');
    },
    120_000,
  );

  test("a created task's event lands on Kafka's task-events keyed by the user id, as a CloudEvent", async () => {
    const before = await endOffsets(TOPIC, { env });
    // The topic exists once task-api published anything (auto-created with num.partitions).
    const partitions = before.size || 4;
    const partition = saramaPartition(user.userId, partitions);
    const task = await createTask(user.token, {
      title: `kafka ${randomUUID()}`,
      priority: 'high',
      tags: ['e2e'],
    });

    const record = await eventually(
      'the task.created record on Kafka',
      async () => {
        const records = await readTopic(TOPIC, {
          env,
          partition,
          offset: before.get(partition) ?? 0,
          max: 50,
          timeoutMs: 8_000,
        });
        return records.find((r) => JSON.parse(r.value).subject === task.id);
      },
      120_000,
    );
    expect(record.key).toBe(user.userId);
    expect(record.partition).toBe(partition);
    const event = JSON.parse(record.value);
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'com.taskstream.task.created',
      subject: task.id,
      datacontenttype: 'application/json',
      data: {
        user_id: user.userId,
        task_id: task.id,
        task_version: task.version,
        payload: { task: { id: task.id, title: task.title } },
      },
    });
    // Every field of the contract, with its format (UUIDv7 id, time with offset, traceparent, …).
    const parsed = EventSchemas['task.created'].safeParse(event);
    expect(parsed.error?.issues ?? []).toEqual([]);
  }, 180_000);

  test('audit, under its own daprd, stores the row and serves it with the same user token', async () => {
    const task = await createTask(user.token, { title: `audit ${randomUUID()}` });
    const rows = await eventually('the audit row', async () => {
      const res = await call('audit', 'GET', `/api/audit-logs?task_id=${task.id}`, { token: user.token });
      expect(res.status).toBe(200); // 401 here would mean the apps do not share JWT_SECRET
      return res.body.items.length ? res.body.items : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ task_id: task.id, actor: user.userId, action: 'task.created' });
  }, 120_000);

  test("completing a recurring task creates the next occurrence through recurring's invocation of task-api", async () => {
    const due = new Date(Date.now() + 24 * 3600_000);
    due.setUTCHours(9, 0, 0, 0);
    const task = await createTask(user.token, {
      title: `daily ${randomUUID()}`,
      due_date: due.toISOString(),
      recurrence: { rule: 'daily', anchor: 'due' },
    });
    const done = await call('task-api', 'POST', `/api/tasks/${task.id}/complete`, { token: user.token });
    expect(done.status).toBe(200);

    const next = await eventually('the next occurrence', async () => {
      const res = await call('task-api', 'GET', '/api/tasks?status=pending&limit=100', { token: user.token });
      return (res.body.items as Task[]).find((t) => t.series_id === task.id);
    });
    // Only the recurring service creates a task of a series (POST /internal/tasks, app token).
    expect(next).toMatchObject({
      title: task.title,
      status: 'pending',
      series_id: task.id,
      occurrence: task.occurrence + 1,
      recurrence: { rule: 'daily', anchor: 'due' },
    });
    expect(Date.parse(next.due_date!)).toBe(due.getTime() + 24 * 3600_000);
    expect(next.id).not.toBe(task.id);
  }, 120_000);

  test('a reminder 3 s ahead fires through the Dapr Jobs API and lands as an in-app notification', async () => {
    const fireAt = new Date(Date.now() + 3_000);
    const task = await createTask(user.token, {
      title: `remind ${randomUUID()}`,
      reminders: [{ at: fireAt.toISOString(), channels: ['in_app'] }],
    });
    const notification = await eventually('the in-app notification', async () => {
      const res = await call('notification', 'GET', '/api/notifications', { token: user.token });
      expect(res.status).toBe(200);
      return (res.body.items as { task_id: string | null; created_at: string }[]).find(
        (n) => n.task_id === task.id,
      );
    });
    expect(notification).toMatchObject({ task_id: task.id, read: false });
    expect((notification as unknown as { title: string }).title).toContain(task.title);
    // Not before it was due (jobs fire no earlier than their due time).
    expect(Date.parse(notification.created_at)).toBeGreaterThanOrEqual(fireAt.getTime());
  }, 120_000);

  test("GET /api/admin/stats reads every app's consumer lag from Kafka: audit held on a failing event is behind, then back to 0", async () => {
    const db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    const marker = `held-${randomUUID()}`;
    let refusal: Awaited<ReturnType<typeof refuseAuditRows>> | undefined;
    try {
      const adminToken = await registerAdmin(db);
      const stats = async () => {
        const res = await call('task-api', 'GET', '/api/admin/stats', { token: adminToken });
        expect(res.status).toBe(200);
        return res.body as { consumers: Record<string, { lag: number }>; consumer_lag: unknown };
      };
      // The consumer groups of every app (the group is the app id), read by task-api from Kafka.
      // A group shows once it has committed an offset: on a fresh stack, after its first event.
      const seed = await createTask(user.token, { title: `seed ${randomUUID()}` });
      await eventually('the seed task audited', async () => {
        const res = await call('audit', 'GET', `/api/audit-logs?task_id=${seed.id}`, { token: user.token });
        return res.body.items.length ? true : undefined;
      });
      const first = await eventually('every app consumer in the stats', async () => {
        const body = await stats();
        return ['audit', 'recurring', 'notification', 'sync'].every((c) => c in body.consumers)
          ? body
          : undefined;
      });
      expect(first.consumer_lag).toEqual({ available: true });
      for (const consumer of ['audit', 'recurring', 'notification', 'sync'])
        expect(first.consumers[consumer]).toEqual({ lag: expect.any(Number) });
      // The same reading on task-api's /metrics.
      const metrics = await (await fetch(`${apps['task-api']}/metrics`)).text();
      expect(metrics).toMatch(
        /^taskstream_consumer_lag\{(?=[^}]*consumer="audit")(?=[^}]*topic="task-events")[^}]*\} \d+$/m,
      );

      // Audit's storage refuses this task's row for now: its consumer retries (1 s, 5 s, 25 s)
      // without committing, so the event stays behind on task-events.
      refusal = await refuseAuditRows(db, marker);
      const task = await createTask(user.token, { title: marker });
      await eventually('audit refused the row once', async () =>
        (await refusal!.tries()) >= 1 ? true : undefined,
      );
      // Refused and not committed: behind by at least that event until the trigger goes.
      const held = await stats();
      expect(held.consumers.audit.lag).toBeGreaterThanOrEqual(1);

      // Fixed before the retries run out: audit handles it, commits, and is behind on nothing.
      await refusal.fix();
      await eventually(
        'audit caught up',
        async () => ((await stats()).consumers.audit?.lag === 0 ? true : undefined),
        90_000,
      );
      const rows = await call('audit', 'GET', `/api/audit-logs?task_id=${task.id}`, { token: user.token });
      expect(rows.body.items).toHaveLength(1);
    } finally {
      await refusal?.cleanup();
      await db.end();
    }
  }, 180_000);

  test("a failing consumer's event lands in task-api's DLQ with its reason after the retries; once fixed, a replay stores it exactly once", async () => {
    const db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    const marker = `poison-${randomUUID()}`;
    let refusal: Awaited<ReturnType<typeof refuseAuditRows>> | undefined;
    try {
      const adminToken = await registerAdmin(db);
      // Audit's storage refuses this one task's row: its consumer keeps failing, the others go on.
      refusal = await refuseAuditRows(db, marker);
      const task = await createTask(user.token, { title: marker });

      // 1 s + 5 s + 25 s of retries, then <topic>.dlq through daprd and Kafka, then task-api's DLQ.
      const dead = await eventually(
        'the dead letter in /api/admin/dlq',
        async () => {
          const res = await call('task-api', 'GET', '/api/admin/dlq?topic=task-events&consumer=audit', {
            token: adminToken,
          });
          expect(res.status).toBe(200);
          return res.body.items.find((d: { event: { subject?: string } }) => d.event.subject === task.id);
        },
        150_000,
      );
      expect(dead).toMatchObject({ topic: 'task-events', consumer: 'audit', attempts: 4, status: 'pending' });
      expect(dead.reason).toContain(`audit storage refused the row (${marker})`);
      const auditRows = async () =>
        (await call('audit', 'GET', `/api/audit-logs?task_id=${task.id}`, { token: user.token })).body.items;
      expect(await auditRows()).toEqual([]);

      // The fix, then the replay: audit alone gets the event again and stores it once.
      await refusal.fix();
      const replay = await call('task-api', 'POST', `/api/admin/dlq/${dead.id}/replay`, {
        token: adminToken,
      });
      expect(replay.status).toBe(202);
      const rows = await eventually('the replayed audit row', async () => {
        const items = await auditRows();
        return items.length ? items : undefined;
      });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ task_id: task.id, action: 'task.created' });

      // A second replay changes nothing: still one row once it has been through.
      expect(
        (await call('task-api', 'POST', `/api/admin/dlq/${dead.id}/replay`, { token: adminToken })).status,
      ).toBe(202);
      const replays = await eventually('both replays through audit', async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM admin_actions WHERE action = 'dlq.replay' AND target = $1`,
          [`dead_letter:${dead.id}`],
        );
        return rows[0].n === 2 ? rows[0].n : undefined;
      });
      expect(replays).toBe(2);
      await new Promise((r) => setTimeout(r, 3000));
      expect(await auditRows()).toHaveLength(1);
      const listed = await call('task-api', 'GET', `/api/admin/dlq?topic=task-events&status=replayed`, {
        token: adminToken,
      });
      expect(listed.body.items.map((d: { id: string }) => d.id)).toContain(dead.id);
    } finally {
      await refusal?.cleanup();
      await db.end();
    }
  }, 240_000);
});
