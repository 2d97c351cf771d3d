import { randomUUID } from 'node:crypto';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { Router } from 'express';
import pg from 'pg';
import type { ServiceFactory } from './runtime.js';

describe('runtime', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([]);
  });
  afterAll(async () => rt?.close());

  it('serves health, readiness and metrics', async () => {
    expect((await rt.request('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await rt.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.database).toBe('ok');
    const metrics = await rt.request('GET', '/metrics');
    expect(metrics.body).toContain('taskstream_http_request_duration_seconds');
  });

  it('answers unknown routes and bad JSON with the error shape', async () => {
    const missing = await rt.request('GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
  });
});

describe('runtime: graceful stop', () => {
  test('stop() waits for an in-flight event handler and an in-flight request, commits the handled event, then closes the pool', async () => {
    let handlerStarted!: () => void;
    const started = new Promise<void>((r) => {
      handlerStarted = r;
    });
    let releaseHandler!: () => void;
    const handlerGate = new Promise<void>((r) => {
      releaseHandler = r;
    });
    let releaseRequest!: () => void;
    const requestGate = new Promise<void>((r) => {
      releaseRequest = r;
    });
    const timeline: string[] = [];
    const topic = 'shutdown-test';

    const service: ServiceFactory = () => {
      const routes = Router();
      routes.get('/slow', async (_req, res) => {
        timeline.push('request started');
        await requestGate;
        res.json({ done: true });
        timeline.push('request answered');
      });
      return {
        name: 'audit',
        routes,
        subscriptions: [
          {
            topic,
            consumer: 'shutdown-test',
            handler: async () => {
              timeline.push('handler started');
              handlerStarted();
              await handlerGate;
              // Still able to use the database at the end of the handler.
              await rt.pool.query('SELECT 1');
              timeline.push('handler finished');
            },
          },
        ],
      };
    };

    const rt = await startTestRuntime([service]);
    try {
      const slow = fetch(`${rt.url}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
      await eventually(async () => timeline.includes('request started'));
      const event = {
        specversion: '1.0' as const,
        id: randomUUID(),
        type: 'com.taskstream.task.created',
        source: 'taskstream/test',
        time: new Date().toISOString(),
        data: { user_id: 'u1' },
      };
      await rt.ports.bus.publish([{ topic, partitionKey: 'u1', event }]);
      await started;

      let stopped = false;
      const stopping = rt.stop().then(() => {
        stopped = true;
        timeline.push('stopped');
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(stopped).toBe(false);
      // No new connections once stop() began.
      await expect(fetch(`${rt.url}/healthz`)).rejects.toThrow();

      releaseRequest();
      expect(await slow).toEqual({ status: 200, body: { done: true } });
      releaseHandler();
      await stopping;

      expect(timeline).toEqual([
        'request started',
        'handler started',
        'request answered',
        'handler finished',
        'stopped',
      ]);
      expect(rt.pool.ended).toBe(true);
      await expect(rt.pool.query('SELECT 1')).rejects.toThrow();

      // The handled event was checkpointed before the pool closed: a restart does not deliver it again.
      const check = new pg.Client({ connectionString: rt.database.url });
      await check.connect();
      try {
        const { rows } = await check.query(
          `SELECT (SELECT count(*)::int FROM consumer_retries WHERE consumer = 'shutdown-test') AS parked,
                  (SELECT c.last_id = e.id FROM consumer_checkpoints c, event_log e
                   WHERE c.consumer = 'shutdown-test' AND e.event_id = $1) AS checkpointed`,
          [event.id],
        );
        expect(rows[0]).toEqual({ parked: 0, checkpointed: true });
      } finally {
        await check.end();
      }
    } finally {
      releaseRequest();
      releaseHandler();
      await rt.close();
    }
  }, 60_000);
});
