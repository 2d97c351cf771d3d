import { createNotificationService } from '@taskstream/notification';
import { startSmtpServer, type TestSmtpServer } from '@taskstream/notification/test-support';
import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from '@taskstream/task-api';

/** End to end through task-api's REST API: tasks with reminders, their mail through a real SMTP server. */
let smtp: TestSmtpServer;
let rt: TestRuntime;

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  smtp = await startSmtpServer();
  rt = await startTestRuntime([createTaskApiService, createNotificationService], {
    env: { SMTP_URL: smtp.url },
  });
});

afterAll(async () => {
  await rt?.close();
  await smtp?.close();
});

async function register(name: string) {
  const email = `${name}-${Math.random().toString(36).slice(2)}@example.com`;
  const { token } = await signUp(rt, { email, password: 'correct horse', name });
  // No call to this service first: the address comes from task-api's account.
  return { email, token };
}

const mailsTo = (email: string) => smtp.messages.filter((m) => m.to.includes(email));

describe('reminders of tasks made through the REST API', () => {
  it('mails a reminder set 2 s ahead, on time, with the title', async () => {
    const user = await register('ada');
    const at = inSeconds(2);
    const created = await rt.request('POST', '/api/tasks', {
      token: user.token,
      body: {
        title: 'Renew passport',
        due_date: inSeconds(3600),
        time_zone: 'Europe/Paris',
        reminders: [{ at, channels: ['email', 'in_app'] }],
      },
    });
    expect(created.status).toBe(201);

    const [mail] = await eventually(async () => mailsTo(user.email).length > 0 && mailsTo(user.email), 15000);
    expect(mail!.receivedAt).toBeGreaterThanOrEqual(Date.parse(at));
    expect(mail!.subject).toBe('Reminder: Renew passport');
    expect(mail!.text).toContain('Europe/Paris');
    const inbox = await eventually(async () => {
      const res = await rt.request('GET', '/api/notifications', { token: user.token });
      return res.body.items.length > 0 && res.body;
    });
    expect(inbox.items[0]).toMatchObject({ task_id: created.body.id, title: 'Renew passport' });
    await sleep(1000);
    expect(mailsTo(user.email)).toHaveLength(1);
  });

  it('sends nothing for a task completed before its reminder, and follows a moved due date', async () => {
    const user = await register('bob');
    const done = await rt.request('POST', '/api/tasks', {
      token: user.token,
      body: { title: 'Done early', reminders: [{ at: inSeconds(2), channels: ['email'] }] },
    });
    const moved = await rt.request('POST', '/api/tasks', {
      token: user.token,
      // 30 minutes before a due date 30 minutes and 2 s away: fires in about 2 s, unless moved.
      body: {
        title: 'Moved',
        due_date: inSeconds(1802),
        reminders: [{ offset_minutes: 30, channels: ['email'] }],
      },
    });
    expect(
      (await rt.request('POST', `/api/tasks/${done.body.id}/complete`, { token: user.token })).status,
    ).toBe(200);
    const patched = await rt.request('PATCH', `/api/tasks/${moved.body.id}`, {
      token: user.token,
      body: { due_date: inSeconds(1806) },
      headers: { 'If-Match': String(moved.body.version) },
    });
    expect(patched.status).toBe(200);
    const newFire = Date.parse(patched.body.due_date) - 30 * 60_000;

    const [mail] = await eventually(async () => mailsTo(user.email).length > 0 && mailsTo(user.email), 15000);
    expect(mail!.subject).toBe('Reminder: Moved');
    expect(mail!.receivedAt).toBeGreaterThanOrEqual(newFire);
    await sleep(1500);
    expect(mailsTo(user.email).map((m) => m.subject)).toEqual(['Reminder: Moved']);
  });
});
