import { randomUUID } from 'node:crypto';
import { type DaprTestApp, startDaprTestApp, waitFor } from '../../../../scripts/stack/test-app.js';
import type { JobTrigger } from '../ports.js';

// Real daprd + Dapr scheduler from `bash scripts/stack/stack.sh up`.
const run = randomUUID().slice(0, 8);
const prefix = `e2e-${run}-`;
const fired: (JobTrigger & { at: number; handler: string })[] = [];
let failNext = 0;

function start() {
  return startDaprTestApp({
    appId: 'e2e-jobs',
    // Short for the test; the adapter's default retries every 10 s for 5 minutes.
    jobFailurePolicy: { constant: { interval: '1s', maxRetries: 5 } },
    configure: ({ jobs }) => {
      // Jobs left over by an earlier, interrupted run of this file: acknowledge and forget.
      jobs.onTrigger('e2e-', async () => undefined);
      jobs.onTrigger(prefix, async (t) => void fired.push({ ...t, at: Date.now(), handler: 'run' }));
      jobs.onTrigger(`${prefix}reminder-`, async (t) => {
        if (failNext > 0) {
          failNext--;
          throw new Error('smtp down (test)');
        }
        fired.push({ ...t, at: Date.now(), handler: 'reminder' });
      });
    },
  });
}

const inSeconds = (s: number) => new Date(Math.ceil(Date.now() / 1000) * 1000 + s * 1000);

describe('dapr JobScheduler through daprd and the Dapr scheduler', () => {
  let app: DaprTestApp;
  beforeAll(async () => {
    app = await start();
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  }, 60_000);

  test('a job fires its route at or after its due time, with its data, to the longest matching prefix', async () => {
    const name = `${prefix}reminder-1`;
    const due = inSeconds(2);
    await app.ports.jobs.schedule({
      name,
      dueTime: due.toISOString(),
      data: { reminder_id: 'r1', channels: ['email'] },
    });
    expect(await app.ports.jobs.get(name)).toMatchObject({
      name,
      dueTime: due.toISOString(),
      data: { reminder_id: 'r1', channels: ['email'] },
    });

    const trigger = await waitFor('trigger', () => fired.find((f) => f.name === name));
    expect(trigger.at).toBeGreaterThanOrEqual(due.getTime());
    expect(trigger.handler).toBe('reminder');
    expect(trigger.data).toEqual({ reminder_id: 'r1', channels: ['email'] });
  }, 60_000);

  test('scheduling a name again overwrites the job; get of a missing job is undefined; delete cancels', async () => {
    const name = `${prefix}overwrite`;
    await app.ports.jobs.schedule({ name, dueTime: '30s', data: 'first' });
    await app.ports.jobs.schedule({ name, dueTime: '1s', data: 'second' });
    await waitFor('overwritten trigger', () => fired.find((f) => f.name === name));
    const cancelled = `${prefix}cancelled`;
    await app.ports.jobs.schedule({ name: cancelled, dueTime: '2s', data: 42 });
    await app.ports.jobs.delete(cancelled);
    expect(await app.ports.jobs.get(`${prefix}never-scheduled`)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 3000));
    expect(fired.filter((f) => f.name === name).map((f) => f.data)).toEqual(['second']);
    expect(fired.find((f) => f.name === cancelled)).toBeUndefined();
  }, 60_000);

  test('a handler that throws is called again', async () => {
    const name = `${prefix}reminder-retry`;
    failNext = 2;
    await app.ports.jobs.schedule({ name, dueTime: '1s', data: { n: 1 } });
    await waitFor('trigger after two failures', () => fired.find((f) => f.name === name));
    expect(failNext).toBe(0);
  }, 60_000);

  test('a job fires after the app and its sidecar restarted in between', async () => {
    const name = `${prefix}reminder-after-restart`;
    const due = inSeconds(6);
    await app.ports.jobs.schedule({ name, dueTime: due.toISOString(), data: { survived: true } });
    await app.close();
    app = await start(); // new process ports, new sidecar, same app id
    const trigger = await waitFor('trigger after restart', () => fired.find((f) => f.name === name));
    expect(trigger.at).toBeGreaterThanOrEqual(due.getTime());
    expect(trigger.data).toEqual({ survived: true });
  }, 60_000);
});
