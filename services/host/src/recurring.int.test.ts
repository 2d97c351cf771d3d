import type { Task } from '@taskstream/contracts';
import type { Envelope } from '@taskstream/platform';
import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createRecurringService, occurrenceTaskId } from '@taskstream/recurring';
import { createTaskApiService } from '@taskstream/task-api';

let rt: TestRuntime;
let token: string;
let userId: string;

beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService, createRecurringService]);
  ({ token, id: userId } = await signUp(rt, {
    email: 'rita@example.com',
    password: 'correct horse battery',
    name: 'Rita',
  }));
});

afterAll(async () => {
  await rt?.close();
});

async function createTask(body: Record<string, unknown>): Promise<Task> {
  const res = await rt.request('POST', '/api/tasks', { token, body });
  expect(res.status).toBe(201);
  return res.body;
}

async function complete(id: string): Promise<Task> {
  const res = await rt.request('POST', `/api/tasks/${id}/complete`, { token });
  expect(res.status).toBe(200);
  return res.body;
}

async function seriesTasks(seriesId: string): Promise<Task[]> {
  const res = await rt.request('GET', '/api/tasks?limit=200', { token });
  expect(res.status).toBe(200);
  return (res.body.items as Task[])
    .filter((t) => t.series_id === seriesId)
    .sort((a, b) => a.occurrence - b.occurrence);
}

/** task-events as the embedded bus keeps them. */
async function taskEvents(type: string, taskId: string): Promise<{ id: number; event: Envelope }[]> {
  const { rows } = await rt.pool.query(
    `SELECT id, event FROM event_log WHERE topic = 'task-events' AND event->>'type' = $1 AND event->>'subject' = $2 ORDER BY id`,
    [`com.taskstream.${type}`, taskId],
  );
  return rows;
}

/** Resolves once the recurring consumer has handled every task-events row up to `logId`. */
async function handledThrough(logId: number) {
  await eventually(async () => {
    const { rows } = await rt.pool.query(
      `SELECT last_id FROM consumer_checkpoints WHERE consumer = 'recurring' AND topic = 'task-events'`,
    );
    return Number(rows[0]?.last_id ?? 0) >= logId;
  });
}

/** Waits for the task's first event of this type, then for the recurring consumer to have handled it. */
async function handledEvent(type: string, taskId: string) {
  const [first] = await eventually(async () => {
    const list = await taskEvents(type, taskId);
    return list.length > 0 && list;
  });
  await handledThrough(first!.id);
  return first!;
}

/** Creates a series' first task and completes it; resolves once its next task is created and handled. */
async function completeFirst(body: Record<string, unknown>) {
  const first = await createTask(body);
  await complete(first.id);
  const nextId = occurrenceTaskId(first.id, 2);
  await handledEvent('task.created', nextId);
  return { first, nextId };
}

async function redeliver(event: Envelope, times: number): Promise<number> {
  await rt.ports.bus.publish(
    Array.from({ length: times }, () => ({ topic: 'task-events', partitionKey: userId, event })),
  );
  const { rows } = await rt.pool.query(`SELECT max(id) AS id FROM event_log WHERE topic = 'task-events'`);
  return Number(rows[0].id);
}

describe('completing a recurring task', () => {
  it('creates exactly one next task, in the list and on task-events, even when the completion is delivered three times', async () => {
    const first = await createTask({
      title: 'Water the plants',
      description: 'the ones on the balcony',
      priority: 'high',
      tags: ['home', 'garden'],
      due_date: '2026-03-27T09:00:00Z', // Friday 09:00 in London, two days before the clocks go forward
      time_zone: 'Europe/London',
      recurrence: { rule: 'daily', anchor: 'due' },
      reminders: [
        { offset_minutes: 30, channels: ['in_app'] },
        { at: '2026-03-26T20:00:00Z', channels: ['email'] },
      ],
    });
    expect(first.series_id).toBe(first.id);
    await complete(first.id);

    const [completed] = await eventually(async () => {
      const list = await taskEvents('task.completed', first.id);
      return list.length === 1 && list;
    });
    const nextId = occurrenceTaskId(first.id, 2);
    await handledEvent('task.created', nextId);

    // The original delivery plus three more copies of the same event.
    await handledThrough(await redeliver(completed!.event, 3));

    const tasks = await seriesTasks(first.id);
    expect(tasks.map((t) => [t.occurrence, t.status])).toEqual([
      [1, 'completed'],
      [2, 'pending'],
    ]);
    const next = tasks[1]!;
    expect(next).toMatchObject({
      id: nextId,
      title: 'Water the plants',
      description: 'the ones on the balcony',
      priority: 'high',
      tags: ['home', 'garden'],
      time_zone: 'Europe/London',
      recurrence: { rule: 'daily', anchor: 'due' },
      series_id: first.id,
      occurrence: 2,
      due_date: '2026-03-28T09:00:00.000Z',
    });
    // The fixed-time reminder keeps its place relative to the due date (20:00 the evening before).
    expect(next.reminders).toEqual([
      { offset_minutes: 30, channels: ['in_app'] },
      { at: expect.stringMatching(/^2026-03-27T20:00:00(\.000)?(Z|\+00:00)$/), channels: ['email'] },
    ]);
    expect(await taskEvents('task.created', nextId)).toHaveLength(1);

    const inbox = await rt.pool.query(
      `SELECT outcome, next_task_id FROM recurring_inbox WHERE event_id = $1`,
      [completed!.event.id],
    );
    expect(inbox.rows).toEqual([{ outcome: 'created', next_task_id: nextId }]);
  });

  it('keeps the local time across the DST change and creates nothing new when the inbox is lost and the event comes again', async () => {
    const { first, nextId } = await completeFirst({
      title: 'Stand-up',
      due_date: '2026-03-28T09:00:00Z', // Saturday 09:00 GMT; Sunday 29 March London moves to BST
      time_zone: 'Europe/London',
      recurrence: { rule: 'daily' },
    });
    const [next] = (await seriesTasks(first.id)).filter((t) => t.occurrence === 2);
    expect(next!.due_date).toBe('2026-03-29T08:00:00.000Z'); // 09:00 BST
    // 09:00 exists that day: the due date says it all, no local time is kept.
    const kept = await rt.pool.query('SELECT 1 FROM recurring_occurrences WHERE task_id = $1', [nextId]);
    expect(kept.rowCount).toBe(0);

    // As if the process had stopped between creating the task and recording the event.
    const [completed] = await taskEvents('task.completed', first.id);
    await rt.pool.query(`DELETE FROM recurring_inbox WHERE event_id = $1`, [completed!.event.id]);
    await handledThrough(await redeliver(completed!.event, 3));

    expect((await seriesTasks(first.id)).map((t) => t.id)).toEqual([first.id, nextId]);
    expect(await taskEvents('task.created', nextId)).toHaveLength(1);
    const inbox = await rt.pool.query(`SELECT outcome FROM recurring_inbox WHERE event_id = $1`, [
      completed!.event.id,
    ]);
    expect(inbox.rows).toEqual([{ outcome: 'existed' }]);
  });

  it('a time a DST gap skips is due after the gap, and the task after it goes back to the asked time', async () => {
    const first = await createTask({
      title: 'Night backup',
      due_date: '2026-03-07T07:30:00Z', // Saturday 02:30 EST; New York skips 02:00-03:00 on Sunday
      time_zone: 'America/New_York',
      recurrence: { rule: 'daily' },
    });
    const dueOf = async (occurrence: number) =>
      eventually(async () => {
        const task = (await seriesTasks(first.id)).find((t) => t.occurrence === occurrence);
        return task?.due_date;
      });
    await complete(first.id);
    expect(await dueOf(2)).toBe('2026-03-08T07:30:00.000Z'); // 03:30 EDT, just after the gap
    const kept = await rt.pool.query('SELECT due_local FROM recurring_occurrences WHERE task_id = $1', [
      occurrenceTaskId(first.id, 2),
    ]);
    expect(kept.rows).toEqual([{ due_local: '2026-03-08T02:30:00' }]);
    await complete(occurrenceTaskId(first.id, 2));
    expect(await dueOf(3)).toBe('2026-03-09T06:30:00.000Z'); // 02:30 EDT again
  });

  it('ends the series after COUNT tasks, and completing a reopened task does not create a second next task', async () => {
    const { first, nextId: secondId } = await completeFirst({
      title: 'Physio exercises',
      due_date: '2026-05-04T07:30:00Z',
      time_zone: 'UTC',
      recurrence: { rule: 'FREQ=WEEKLY;BYDAY=MO,TH;COUNT=2' },
    });

    // Reopen and complete the first task again: same next task, no new one.
    expect((await rt.request('POST', `/api/tasks/${first.id}/reopen`, { token })).status).toBe(200);
    await complete(first.id);
    const completions = await eventually(async () => {
      const list = await taskEvents('task.completed', first.id);
      return list.length === 2 && list;
    });
    await handledThrough(completions[1]!.id);

    const second = (await seriesTasks(first.id)).find((t) => t.id === secondId)!;
    expect(second.due_date).toBe('2026-05-07T07:30:00.000Z'); // the Thursday
    await complete(secondId);
    const [done] = await eventually(async () => {
      const list = await taskEvents('task.completed', secondId);
      return list.length === 1 && list;
    });
    await handledThrough(done!.id);

    const tasks = await seriesTasks(first.id);
    expect(tasks.map((t) => t.occurrence)).toEqual([1, 2]);
    expect(await taskEvents('task.created', occurrenceTaskId(first.id, 3))).toHaveLength(0);
    const outcomes = await rt.pool.query(
      `SELECT outcome FROM recurring_inbox WHERE series_id = $1 ORDER BY processed_at`,
      [first.id],
    );
    expect(outcomes.rows.map((r) => r.outcome)).toEqual(['created', 'existed', 'ended']);
  });

  it('never re-creates a deleted next task when the completion comes again, and deleting the completed task keeps the next one', async () => {
    const { first, nextId } = await completeFirst({
      title: 'Take out the bins',
      due_date: '2026-06-01T18:00:00Z',
      time_zone: 'UTC',
      recurrence: { rule: 'weekly' },
    });
    expect((await rt.request('DELETE', `/api/tasks/${nextId}`, { token })).status).toBe(204);

    // The completion again, as if its inbox row had been lost: the next task is planned and
    // asked for once more, and its tombstone keeps the id taken.
    const [completed] = await taskEvents('task.completed', first.id);
    await rt.pool.query(`DELETE FROM recurring_inbox WHERE event_id = $1`, [completed!.event.id]);
    await handledThrough(await redeliver(completed!.event, 2));

    expect((await rt.request('GET', `/api/tasks/${nextId}`, { token })).status).toBe(404);
    expect((await seriesTasks(first.id)).map((t) => t.id)).toEqual([first.id]);
    expect(await taskEvents('task.created', nextId)).toHaveLength(1);
    const inbox = await rt.pool.query(`SELECT outcome FROM recurring_inbox WHERE event_id = $1`, [
      completed!.event.id,
    ]);
    expect(inbox.rows).toEqual([{ outcome: 'existed' }]);

    // Deleting a completed task leaves the task after it alone.
    const { first: other, nextId: otherNext } = await completeFirst({
      title: 'Pay the cleaner',
      due_date: '2026-06-01T18:00:00Z',
      time_zone: 'UTC',
      recurrence: { rule: 'weekly' },
    });
    expect((await rt.request('DELETE', `/api/tasks/${other.id}`, { token })).status).toBe(204);
    await handledEvent('task.deleted', other.id);
    expect((await seriesTasks(other.id)).map((t) => [t.id, t.status])).toEqual([[otherNext, 'pending']]);
  });

  it('stops the series when its pending task is deleted', async () => {
    const first = await createTask({
      title: 'Renew the parking permit',
      due_date: '2026-07-01T08:00:00Z',
      time_zone: 'UTC',
      recurrence: { rule: 'monthly' },
    });
    expect((await rt.request('DELETE', `/api/tasks/${first.id}`, { token })).status).toBe(204);
    await handledEvent('task.deleted', first.id);

    // A deletion is no completion: no next task, and nothing left to complete.
    expect(await taskEvents('task.created', occurrenceTaskId(first.id, 2))).toHaveLength(0);
    expect(await seriesTasks(first.id)).toEqual([]);
    expect((await rt.request('POST', `/api/tasks/${first.id}/complete`, { token })).status).toBe(404);
    const inbox = await rt.pool.query('SELECT 1 FROM recurring_inbox WHERE series_id = $1', [first.id]);
    expect(inbox.rowCount).toBe(0);
  });

  it('sends a broken task.completed event to the dead-letter topic with the reason', async () => {
    const [sample] = (
      await rt.pool.query(
        `SELECT event FROM event_log WHERE topic = 'task-events' AND event->>'type' = 'com.taskstream.task.completed' LIMIT 1`,
      )
    ).rows;
    const broken = structuredClone(sample.event) as Envelope & {
      data: { payload: { task: Record<string, unknown> } };
    };
    broken.id = '0190f5c2-7b3a-7cc1-8f1e-5a1b2c3d4e5f';
    broken.data.payload.task.recurrence = { rule: 42 };
    await rt.ports.bus.publish([{ topic: 'task-events', partitionKey: userId, event: broken }]);
    const dead = await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT reason FROM dead_letters WHERE consumer = 'recurring' AND event_id = $1`,
        [broken.id],
      );
      return rows[0];
    });
    expect(dead.reason).toMatch(/invalid task\.completed event .*recurrence/);
  });
});

describe('POST /api/recurrence/preview', () => {
  it('needs a user token', async () => {
    const res = await rt.request('POST', '/api/recurrence/preview', {
      body: { rule: 'daily', start: '2026-01-01T09:00:00Z' },
    });
    expect(res.status).toBe(401);
  });

  it('lists the series in the time zone with offsets', async () => {
    const res = await rt.request('POST', '/api/recurrence/preview', {
      token,
      body: {
        rule: 'weekly:MO,WE',
        start: '2026-10-21T09:00:00-04:00',
        time_zone: 'America/New_York',
        anchor: 'due',
        count: 4,
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      occurrences: [
        '2026-10-21T09:00:00-04:00',
        '2026-10-26T09:00:00-04:00',
        '2026-10-28T09:00:00-04:00',
        '2026-11-02T09:00:00-05:00',
      ],
    });
  });

  it.each([
    ['FREQ=DAILY;INTERVAL=0', /INTERVAL/],
    ['FREQ=DAILY;COUNT=3;UNTIL=20270101', /COUNT and UNTIL/],
    ['FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', /never falls/],
    ['FREQ=YEARLY;BYWEEKNO=1;BYMONTH=7', /no occurrence within 50 years/],
    ['every other blue moon', /./],
  ])('answers 400 with the reason for %s', async (rule, reason) => {
    const res = await rt.request('POST', '/api/recurrence/preview', {
      token,
      body: { rule, start: '2026-01-01T09:00:00Z' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details[0]).toMatchObject({ path: 'rule', message: expect.stringMatching(reason) });
  });
});
