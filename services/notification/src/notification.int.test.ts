import { EventSchemas } from '@taskstream/contracts';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';
import { createNotificationService } from './index.js';
import {
  type BrowserSubscription,
  reminderCancelled,
  reminderScheduled,
  startPushService,
  startSmtpServer,
  type TestPushService,
  type TestSmtpServer,
  type TestTask,
  taskEvent,
} from './test-support/index.js';

let smtp: TestSmtpServer;
let pushService: TestPushService;
let rt: TestRuntime;

const env = () => ({
  // The test push service listens on loopback.
  PUSH_ALLOW_LOOPBACK: 'true',
  SMTP_URL: smtp.url,
  RETRY_DELAYS_MS: '300,600',
  MAIL_FROM: 'Taskstream <reminders@taskstream.test>',
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

interface TestUser {
  userId: string;
  token: string;
  email: string;
  browser: BrowserSubscription;
}

/** A signed-in user with a browser subscribed to Web Push (which also tells the service the address). */
async function newUser(runtime = rt): Promise<TestUser> {
  const userId = uuidv7();
  const email = `u-${userId.slice(-12)}@example.test`;
  const token = await runtime.auth.sign({ userId, role: 'user', email, name: 'Ada' });
  const browser = pushService.subscribe();
  const res = await runtime.request('POST', '/api/push/subscriptions', { token, body: browser.json });
  expect(res.status).toBe(201);
  return { userId, token, email, browser };
}

function newTask(user: TestUser, overrides: Partial<TestTask> = {}): TestTask {
  return {
    id: uuidv7(),
    user_id: user.userId,
    title: `Call the dentist ${Math.random().toString(36).slice(2, 7)}`,
    due_date: inSeconds(3600),
    time_zone: 'America/New_York',
    version: 1,
    sequence: 1,
    ...overrides,
  };
}

const mailsTo = (user: TestUser) => smtp.messages.filter((m) => m.to.includes(user.email));
const pushesTo = (user: TestUser) =>
  pushService.delivered().filter((p) => user.browser.json.endpoint.endsWith(`/push/${p.endpointId}`));
const notificationsOf = async (user: TestUser, runtime = rt) =>
  (await runtime.request('GET', '/api/notifications', { token: user.token })).body;

/** The wall-clock "HH:MM" of an instant in a zone, computed here independently of the service. */
function localHourMinute(iso: string, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(iso));
  return `${parts.find((p) => p.type === 'hour')!.value}:${parts.find((p) => p.type === 'minute')!.value}`;
}

async function eventsOn(topic: string, type: string, taskId: string, runtime = rt) {
  const { rows } = await runtime.pool.query(
    `SELECT event FROM event_log WHERE topic = $1 AND event->>'type' = $2 AND event->>'subject' = $3 ORDER BY id`,
    [topic, `com.taskstream.${type}`, taskId],
  );
  return rows.map((r) => r.event);
}

beforeAll(async () => {
  smtp = await startSmtpServer();
  pushService = await startPushService();
  rt = await startTestRuntime([createNotificationService], { env: env() });
});

afterAll(async () => {
  await rt?.close();
  await pushService?.close();
  await smtp?.close();
});

describe('a reminder', () => {
  it('arrives once, on time, on email, Web Push and in-app, with the title and due time', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(2.5);
    await rt.ports.bus.publish([
      taskEvent('created', { ...task, reminders: [{ at: fireAt, channels: ['email', 'push', 'in_app'] }] }),
      reminderScheduled(task, fireAt, ['email', 'push', 'in_app']),
    ]);

    const [mail] = await eventually(async () => mailsTo(user).length > 0 && mailsTo(user), 15000);
    const [push] = await eventually(async () => pushesTo(user).length > 0 && pushesTo(user), 15000);
    const inbox = await eventually(async () => {
      const page = await notificationsOf(user);
      return page.items.length > 0 && page;
    });
    // On time: not before it was due, and soon after (a generous bound; the bench measures the delay).
    const due = Date.parse(fireAt);
    for (const at of [mail!.receivedAt, push!.receivedAt]) {
      expect(at).toBeGreaterThanOrEqual(due);
      expect(at - due).toBeLessThan(5000);
    }

    const dueTime = localHourMinute(task.due_date!, task.time_zone);
    expect(mail!.from).toBe('reminders@taskstream.test');
    expect(mail!.subject).toBe(`Reminder: ${task.title}`);
    expect(mail!.text).toContain(task.title);
    expect(mail!.text).toContain(dueTime);
    expect(mail!.text).toContain('America/New_York');

    // The push message was decrypted with the browser's keys and carried valid VAPID.
    expect(push!.payload).toMatchObject({
      title: task.title,
      data: { task_id: task.id, reminder_id: `${task.id}.0`, due_date: task.due_date },
    });
    expect(push!.payload.body).toContain(dueTime);
    const { body: vapid } = await rt.request('GET', '/api/push/vapid-public-key');
    expect(push!.vapid).toMatchObject({
      publicKey: vapid.public_key,
      aud: pushService.origin,
      sub: 'mailto:admin@taskstream.local',
    });

    expect(inbox.unread).toBe(1);
    expect(inbox.items[0]).toMatchObject({ task_id: task.id, title: task.title, read: false });
    expect(inbox.items[0].body).toContain(dueTime);

    // notification.created for the sync service, on task-updates, valid by its contract.
    const [created] = await eventually(async () => {
      const events = await eventsOn('task-updates', 'notification.created', task.id);
      return events.length > 0 && events;
    });
    expect(EventSchemas['notification.created'].safeParse(created).success).toBe(true);
    expect(created.data.payload.notification_id).toBe(inbox.items[0].id);
    const sent = await eventually(async () => {
      const events = await eventsOn('reminders', 'reminder.sent', task.id);
      return events.length === 3 && events;
    });
    expect(sent.map((e) => e.data.payload.channel).sort()).toEqual(['email', 'in_app', 'push']);
    for (const e of sent) expect(EventSchemas['reminder.sent'].safeParse(e).success).toBe(true);

    // Once: nothing more comes.
    await sleep(1500);
    expect(mailsTo(user)).toHaveLength(1);
    expect(pushesTo(user)).toHaveLength(1);
    expect((await notificationsOf(user)).items).toHaveLength(1);
    const { rows } = await rt.pool.query(
      'SELECT channel, status, attempt FROM deliveries WHERE reminder_id = $1 ORDER BY channel',
      [`${task.id}.0`],
    );
    expect(rows).toEqual([
      { channel: 'email', status: 'sent', attempt: 1 },
      { channel: 'in_app', status: 'sent', attempt: 1 },
      { channel: 'push', status: 'sent', attempt: 1 },
    ]);
  });

  it('moves with the due date: nothing at the old time, once at the new time', async () => {
    const user = await newUser();
    const task = newTask(user);
    const oldFire = inSeconds(2);
    await rt.ports.bus.publish([reminderScheduled(task, oldFire, ['email', 'push'])]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));

    const moved = { ...task, version: 2, sequence: 2, due_date: inSeconds(7200) };
    const newFire = inSeconds(5);
    await rt.ports.bus.publish([
      taskEvent('updated', moved),
      reminderScheduled(moved, newFire, ['email', 'push']),
    ]);
    await eventually(async () => (await rt.ports.jobs.get(`reminder-${task.id}.0`))?.dueTime === newFire);

    await sleep(Date.parse(oldFire) - Date.now() + 1500);
    expect(mailsTo(user)).toHaveLength(0);
    expect(pushesTo(user)).toHaveLength(0);

    const [mail] = await eventually(async () => mailsTo(user).length > 0 && mailsTo(user), 15000);
    expect(mail!.receivedAt).toBeGreaterThanOrEqual(Date.parse(newFire));
    expect(mail!.text).toContain(localHourMinute(moved.due_date!, moved.time_zone));
    await eventually(async () => pushesTo(user).length > 0);
    await sleep(1000);
    expect(mailsTo(user)).toHaveLength(1);
    expect(pushesTo(user)).toHaveLength(1);
  });

  it('is cancelled when the task is completed', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(2.5);
    await rt.ports.bus.publish([reminderScheduled(task, fireAt, ['email', 'push', 'in_app'])]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));

    const done = { ...task, version: 2, sequence: 2, status: 'completed' as const };
    await rt.ports.bus.publish([taskEvent('completed', done), reminderCancelled(done, 'task completed')]);
    await eventually(async () => (await rt.ports.jobs.get(`reminder-${task.id}.0`)) === undefined);

    await sleep(Date.parse(fireAt) - Date.now() + 2000);
    expect(mailsTo(user)).toHaveLength(0);
    expect(pushesTo(user)).toHaveLength(0);
    expect((await notificationsOf(user)).items).toHaveLength(0);
  });

  it('is cancelled when the task is deleted, even if only the task event arrives', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(2.5);
    await rt.ports.bus.publish([
      taskEvent('created', task),
      reminderScheduled(task, fireAt, ['email', 'in_app']),
    ]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));

    await rt.ports.bus.publish([taskEvent('deleted', { ...task, version: 2, sequence: 2 })]);
    await eventually(async () => (await rt.ports.jobs.get(`reminder-${task.id}.0`)) === undefined);
    await sleep(Date.parse(fireAt) - Date.now() + 2000);
    expect(mailsTo(user)).toHaveLength(0);
    expect((await notificationsOf(user)).items).toHaveLength(0);

    // A late, older reminder.scheduled does not bring it back.
    await rt.ports.bus.publish([reminderScheduled(task, inSeconds(0.5), ['email'])]);
    await sleep(2000);
    expect(mailsTo(user)).toHaveLength(0);
  });

  it('is held back when the task moved but the new reminder.scheduled has not arrived yet', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(2);
    await rt.ports.bus.publish([taskEvent('created', task), reminderScheduled(task, fireAt, ['email'])]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));
    // Only the task event so far: the old job still fires, and must see that the due date moved.
    const moved = { ...task, version: 2, sequence: 2, due_date: inSeconds(7200) };
    await rt.ports.bus.publish([taskEvent('updated', moved)]);
    await sleep(Date.parse(fireAt) - Date.now() + 2000);
    expect(mailsTo(user)).toHaveLength(0);

    // The reminder for the new time arrives (already due here): sent once, with the new due time.
    await rt.ports.bus.publish([reminderScheduled(moved, inSeconds(0.5), ['email'])]);
    const [mail] = await eventually(async () => mailsTo(user).length > 0 && mailsTo(user), 15000);
    expect(mail!.text).toContain(localHourMinute(moved.due_date!, moved.time_zone));
    await sleep(1000);
    expect(mailsTo(user)).toHaveLength(1);
  });

  it('is sent once when its job is triggered twice at the same time', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(2);
    await rt.ports.bus.publish([reminderScheduled(task, fireAt, ['email', 'push', 'in_app'])]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));
    // A second job for the same firing (as a redelivered trigger would be).
    await rt.ports.jobs.schedule({
      name: `reminder-${task.id}.0~again`,
      dueTime: fireAt,
      data: { reminder_id: `${task.id}.0`, fire_at: fireAt },
    });
    await eventually(async () => mailsTo(user).length > 0 && pushesTo(user).length > 0, 15000);
    await eventually(async () => (await rt.ports.jobs.get(`reminder-${task.id}.0~again`)) === undefined);
    await sleep(1000);
    expect(mailsTo(user)).toHaveLength(1);
    expect(pushesTo(user)).toHaveLength(1);
    expect((await notificationsOf(user)).items).toHaveLength(1);
  });
});

describe('delivery failures', () => {
  it('retries a refused mail and records every attempt', async () => {
    const user = await newUser();
    const task = newTask(user);
    smtp.refuseNext(1, 451);
    await rt.ports.bus.publish([reminderScheduled(task, inSeconds(1), ['email'])]);
    await eventually(async () => mailsTo(user).length > 0, 15000);
    const rows = await eventually(async () => {
      const { rows } = await rt.pool.query(
        'SELECT attempt, status, error FROM deliveries WHERE reminder_id = $1 ORDER BY attempt',
        [`${task.id}.0`],
      );
      return rows.length === 2 && rows;
    });
    expect(rows[0]).toMatchObject({ attempt: 1, status: 'failed' });
    expect(rows[0].error).toMatch(/451|try again/);
    expect(rows[1]).toMatchObject({ attempt: 2, status: 'sent', error: null });
    await sleep(1000);
    expect(mailsTo(user)).toHaveLength(1);
  });

  it('dead-letters a push that keeps failing, with the reason, and announces reminder.failed', async () => {
    const user = await newUser();
    const endpointId = decodeURIComponent(user.browser.json.endpoint.split('/push/')[1]!);
    pushService.respond(endpointId, 503, 503, 503);
    const task = newTask(user);
    await rt.ports.bus.publish([reminderScheduled(task, inSeconds(1), ['push', 'in_app'])]);

    const [dead] = await eventually(async () => {
      const events = await eventsOn('reminders.dlq', 'reminder.failed', task.id);
      return events.length > 0 && events;
    }, 15000);
    expect(dead.deadletterreason).toMatch(/503/);
    expect(dead.deadletterconsumer).toBe('notification');
    expect(dead.deadletterattempts).toBe(3);
    const [failed] = await eventsOn('reminders', 'reminder.failed', task.id);
    expect(EventSchemas['reminder.failed'].safeParse(failed).success).toBe(true);
    expect(failed.data.payload).toMatchObject({ channel: 'push', attempt: 3 });
    const { rows } = await rt.pool.query(
      `SELECT attempt, status FROM deliveries WHERE reminder_id = $1 AND channel = 'push' ORDER BY attempt`,
      [`${task.id}.0`],
    );
    expect(rows).toEqual([
      { attempt: 1, status: 'failed' },
      { attempt: 2, status: 'failed' },
      { attempt: 3, status: 'dead' },
    ]);
    // The in-app channel is independent of the push failure.
    expect((await notificationsOf(user)).items).toHaveLength(1);
  });

  // 410 Gone is what push services answer for an expired subscription; some (and RFC 8030's
  // "no such subscription") answer 404 for one they no longer know.
  it.each([410, 404])(
    'removes a subscription the push service says is gone (%i) and does not count it as a failure',
    async (status) => {
      const user = await newUser();
      const endpointId = decodeURIComponent(user.browser.json.endpoint.split('/push/')[1]!);
      pushService.respond(endpointId, status);
      const task = newTask(user);
      await rt.ports.bus.publish([reminderScheduled(task, inSeconds(1), ['push'])]);
      const rows = await eventually(async () => {
        const { rows } = await rt.pool.query(
          'SELECT attempt, status, error FROM deliveries WHERE reminder_id = $1',
          [`${task.id}.0`],
        );
        return rows.length > 0 && rows;
      }, 15000);
      expect(rows).toEqual([
        { attempt: 1, status: 'skipped', error: 'no live push subscription (expired ones removed)' },
      ]);
      const { rowCount } = await rt.pool.query('SELECT 1 FROM push_subscriptions WHERE user_id = $1', [
        user.userId,
      ]);
      expect(rowCount).toBe(0);
      // One well-formed message (it decrypted), answered with the status; not sent again.
      await sleep(1000);
      const requests = pushService.received.filter((r) => r.endpointId === endpointId);
      expect(requests.map((r) => ({ status: r.status, error: r.error }))).toEqual([
        { status, error: undefined },
      ]);
      expect(requests[0]!.payload).toBeDefined();
    },
  );

  it('dead-letters an invalid reminder event with a reason naming the field', async () => {
    const user = await newUser();
    const task = newTask(user);
    const message = reminderScheduled(task, 'tomorrow-ish', ['email']);
    await rt.ports.bus.publish([message]);
    const row = await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT reason FROM dead_letters WHERE consumer = 'notification' AND event_id = $1`,
        [message.event.id],
      );
      return rows[0];
    }, 15000);
    expect(row.reason).toMatch(/data\.payload\.fire_at/);
  });
});

describe('preferences', () => {
  it('skips channels the user turned off and defers email and push during quiet hours', async () => {
    const user = await newUser();
    // Quiet from an hour ago to two hours ahead, in the user's zone.
    const zone = 'Asia/Tokyo';
    const hm = (offsetMs: number) => localHourMinute(new Date(Date.now() + offsetMs).toISOString(), zone);
    const [start, end] = [hm(-3600_000), hm(7200_000)];
    const put = await rt.request('PUT', '/api/preferences', {
      token: user.token,
      body: {
        channels: ['email', 'in_app'],
        quiet_hours: { start, end, time_zone: zone },
      },
    });
    expect(put.status).toBe(200);
    expect((await rt.request('GET', '/api/preferences', { token: user.token })).body).toEqual(put.body);

    const task = newTask(user);
    await rt.ports.bus.publish([reminderScheduled(task, inSeconds(1), ['email', 'push', 'in_app'])]);
    // In-app is silent and is not held back; push is off; email waits for the end of the quiet hours.
    await eventually(async () => (await notificationsOf(user)).items.length === 1, 15000);
    const channels = await eventually(async () => {
      const { rows } = await rt.pool.query(
        'SELECT channel, status, next_attempt_at, pending_job FROM reminder_channels WHERE reminder_id = $1 ORDER BY channel',
        [`${task.id}.0`],
      );
      return rows.length === 3 && rows.every((r) => r.status !== 'pending') && rows;
    });
    expect(channels.map((r) => [r.channel, r.status])).toEqual([
      ['email', 'deferred'],
      ['in_app', 'sent'],
      ['push', 'skipped'],
    ]);
    const email = channels[0];
    const wait = email.next_attempt_at.getTime() - Date.now();
    expect(wait).toBeGreaterThan(3600_000);
    expect(wait).toBeLessThanOrEqual(7200_000);
    expect(localHourMinute(email.next_attempt_at.toISOString(), zone)).toBe(end);
    // The follow-up job is booked right after the row commits.
    const booked = await eventually(() => rt.ports.jobs.get(email.pending_job));
    expect(booked?.dueTime).toBe(email.next_attempt_at.toISOString());
    expect(mailsTo(user)).toHaveLength(0);

    // Triggered early while still quiet: nothing is sent and the booking stays.
    await rt.ports.jobs.schedule({ name: email.pending_job, dueTime: '0s', data: booked!.data });
    await sleep(1500);
    expect(mailsTo(user)).toHaveLength(0);
    expect((await rt.ports.jobs.get(email.pending_job))?.dueTime).toBe(email.next_attempt_at.toISOString());

    // Quiet hours over: the deferred mail goes out once.
    await rt.request('PUT', '/api/preferences', {
      token: user.token,
      body: { channels: ['email', 'in_app'], quiet_hours: null },
    });
    await rt.ports.jobs.schedule({ name: email.pending_job, dueTime: '0s', data: booked!.data });
    await eventually(async () => mailsTo(user).length === 1, 15000);
    await sleep(1000);
    expect(mailsTo(user)).toHaveLength(1);
  });

  it('rejects invalid preferences with the field named', async () => {
    const user = await newUser();
    const res = await rt.request('PUT', '/api/preferences', {
      token: user.token,
      body: { channels: ['pigeon'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/channels/);
    const quiet = await rt.request('PUT', '/api/preferences', {
      token: user.token,
      body: { quiet_hours: { start: '25:00', end: '07:00', time_zone: 'UTC' } },
    });
    expect(quiet.status).toBe(400);
    expect(quiet.body.error.message).toMatch(/quiet_hours\.start/);
    expect((await rt.request('GET', '/api/preferences', { token: user.token })).body).toEqual({
      channels: ['email', 'push', 'in_app'],
      quiet_hours: null,
    });
  });
});

describe('the in-app inbox', () => {
  it('pages newest first, counts unread, marks read, and keeps users apart', async () => {
    const user = await newUser();
    const other = await newUser();
    const tasks = [0, 1, 2].map(() => newTask(user));
    await rt.ports.bus.publish(tasks.map((t) => reminderScheduled(t, inSeconds(0.5), ['in_app'])));
    await eventually(async () => (await notificationsOf(user)).items.length === 3, 15000);

    const first = await rt.request('GET', '/api/notifications?limit=2', { token: user.token });
    expect(first.body.items).toHaveLength(2);
    expect(first.body.unread).toBe(3);
    expect(first.body.next_cursor).toBe(first.body.items[1].id);
    const second = await rt.request('GET', `/api/notifications?limit=2&cursor=${first.body.next_cursor}`, {
      token: user.token,
    });
    expect(second.body.items).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.items, ...second.body.items].map((n: { id: string }) => n.id);
    expect(ids).toEqual([...ids].sort().reverse());

    const target = ids[1];
    expect(
      (await rt.request('POST', `/api/notifications/${target}/read`, { token: other.token })).status,
    ).toBe(404);
    expect(
      (await rt.request('POST', `/api/notifications/${target}/read`, { token: user.token })).status,
    ).toBe(204);
    const after = await rt.request('GET', '/api/notifications', { token: user.token });
    expect(after.body.unread).toBe(2);
    expect(after.body.items.find((n: { id: string }) => n.id === target).read).toBe(true);
    const unreadOnly = await rt.request('GET', '/api/notifications?unread=true', { token: user.token });
    expect(unreadOnly.body.items.map((n: { id: string }) => n.id)).not.toContain(target);
    expect((await notificationsOf(other)).items).toHaveLength(0);

    expect((await rt.request('GET', '/api/notifications?cursor=nope', { token: user.token })).status).toBe(
      400,
    );
    expect((await rt.request('GET', '/api/notifications')).status).toBe(401);
    expect((await rt.request('POST', '/api/notifications/read-all', { token: user.token })).status).toBe(204);
    expect((await notificationsOf(user)).unread).toBe(0);
  });
});

describe('push subscriptions', () => {
  it('are stored per user, removed on request, and validated', async () => {
    const user = await newUser();
    const count = async () =>
      (
        await rt.pool.query('SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1', [
          user.userId,
        ])
      ).rows[0].n;
    expect(await count()).toBe(1);
    const second = pushService.subscribe();
    expect(
      (await rt.request('POST', '/api/push/subscriptions', { token: user.token, body: second.json })).status,
    ).toBe(201);
    // Subscribing the same browser again is not a duplicate.
    expect(
      (await rt.request('POST', '/api/push/subscriptions', { token: user.token, body: second.json })).status,
    ).toBe(201);
    expect(await count()).toBe(2);
    const del = await rt.request('DELETE', '/api/push/subscriptions', {
      token: user.token,
      body: { endpoint: second.json.endpoint },
    });
    expect(del.status).toBe(204);
    expect(await count()).toBe(1);

    const bad = await rt.request('POST', '/api/push/subscriptions', {
      token: user.token,
      body: { endpoint: 'not a url', keys: { p256dh: 'x', auth: 'y' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/endpoint/);
    expect((await rt.request('POST', '/api/push/subscriptions', { body: second.json })).status).toBe(401);
  });
});

describe('a restart between scheduling and due time', () => {
  it('still delivers the reminder exactly once, with the same VAPID key', async () => {
    const user = await newUser();
    const task = newTask(user);
    const fireAt = inSeconds(4);
    const keyBefore = (await rt.request('GET', '/api/push/vapid-public-key')).body.public_key;
    await rt.ports.bus.publish([reminderScheduled(task, fireAt, ['email', 'push', 'in_app'])]);
    await eventually(() => rt.ports.jobs.get(`reminder-${task.id}.0`));

    const database = rt.database;
    await rt.stop();
    const restarted = await startTestRuntime([createNotificationService], { env: env(), database });
    rt = restarted;
    try {
      expect(Date.now()).toBeLessThan(Date.parse(fireAt));
      expect((await rt.request('GET', '/api/push/vapid-public-key')).body.public_key).toBe(keyBefore);
      await eventually(async () => mailsTo(user).length > 0 && pushesTo(user).length > 0, 15000);
      await eventually(async () => (await notificationsOf(user)).items.length > 0);
      expect(mailsTo(user)[0]!.receivedAt).toBeGreaterThanOrEqual(Date.parse(fireAt));
      await sleep(1500);
      expect(mailsTo(user)).toHaveLength(1);
      expect(pushesTo(user)).toHaveLength(1);
      expect((await notificationsOf(user)).items).toHaveLength(1);
    } finally {
      // This runtime does not own the database: close() keeps it, so drop it here.
      rt = {
        ...restarted,
        close: async () => {
          await restarted.stop();
          await database.drop();
        },
      };
    }
  });
});

describe('without SMTP_URL', () => {
  it('keeps reminder mail in the local mailbox the web UI shows', async () => {
    const local = await startTestRuntime([createNotificationService], {
      env: { RETRY_DELAYS_MS: '300,600', PUSH_ALLOW_LOOPBACK: 'true' },
    });
    try {
      const user = await newUser(local);
      const task = newTask(user);
      await local.ports.bus.publish([reminderScheduled(task, inSeconds(1), ['email'])]);
      const page = await eventually(async () => {
        const res = await local.request('GET', '/api/mailbox', { token: user.token });
        return res.body.items.length > 0 && res.body;
      }, 15000);
      expect(page.mode).toBe('mailbox');
      expect(page.items[0]).toMatchObject({ to: user.email, subject: `Reminder: ${task.title}` });
      expect(page.items[0].text).toContain(localHourMinute(task.due_date!, task.time_zone));
      const other = await newUser(local);
      expect((await local.request('GET', '/api/mailbox', { token: other.token })).body.items).toHaveLength(0);
      expect(mailsTo(user)).toHaveLength(0);
    } finally {
      await local.close();
    }
  });
});
