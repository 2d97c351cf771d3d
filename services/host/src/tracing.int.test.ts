import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { createAuditService } from '@taskstream/audit';
import { Topics } from '@taskstream/contracts';
import { createNotificationService } from '@taskstream/notification';
import { type DeliveryContext, type ServiceFactory, traceIdOf } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';
import express from 'express';
import { pino } from 'pino';

interface CollectedSpan {
  traceId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

/** The ids arrive hex-encoded (OTLP/JSON) or base64 (protobuf-JSON mapping): accept both. */
const hexId = (id: string) =>
  /^[0-9a-f]{32}$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');

/** A tiny OTLP/HTTP JSON trace collector. */
async function startCollector() {
  const spans: CollectedSpan[] = [];
  const app = express();
  app.use(express.json({ limit: '20mb' }));
  app.post('/v1/traces', (req, res) => {
    for (const rs of req.body.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes = Object.fromEntries(
            (s.attributes ?? []).map((a: { key: string; value: Record<string, unknown> }) => [
              a.key,
              Object.values(a.value)[0],
            ]),
          );
          spans.push({ traceId: hexId(s.traceId), name: s.name, kind: s.kind, attributes });
        }
      }
    }
    res.json({});
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    spans,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('tracing across hops', () => {
  let rt: TestRuntime;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  const lines: Record<string, unknown>[] = [];
  const handled: { traceparent?: string; eventTraceparent?: string }[] = [];
  const savedDelay = process.env.OTEL_BSP_SCHEDULE_DELAY;

  beforeAll(async () => {
    process.env.OTEL_BSP_SCHEDULE_DELAY = '100';
    collector = await startCollector();
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    // A consumer that logs through its delivery context, as handlers do.
    const probe: ServiceFactory = () => ({
      name: 'recurring',
      subscriptions: [
        {
          topic: Topics.taskEvents,
          consumer: 'trace-probe',
          async handler(event, ctx: DeliveryContext) {
            handled.push({ traceparent: ctx.traceparent, eventTraceparent: event.traceparent });
            ctx.log?.info('probe handled the event');
          },
        },
      ],
    });
    rt = await startTestRuntime(
      [createTaskApiService, createAuditService, createSyncService, createNotificationService, probe],
      {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url },
        logger: pino({ level: 'info', base: undefined }, sink),
      },
    );
  });
  afterAll(async () => {
    await rt?.close();
    await collector?.close();
    if (savedDelay === undefined) delete process.env.OTEL_BSP_SCHEDULE_DELAY;
    else process.env.OTEL_BSP_SCHEDULE_DELAY = savedDelay;
  });

  it("puts one request's trace id on its events, the audit row, the sync message, the reminder delivery, the consumer spans and the handler's log", async () => {
    const userId = randomUUID();
    await rt.pool.query(
      `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'Trace', 'user', 'x')`,
      [userId, `trace-${userId}@example.com`],
    );
    const token = await rt.auth.sign({ userId, role: 'user' });
    const traceId = randomBytes(16).toString('hex');
    const created = await rt.request('POST', '/api/tasks', {
      token,
      // A reminder due in a moment, so that its delivery is part of the request's trace.
      body: {
        title: 'Traced task',
        due_date: new Date(Date.now() + 60_000).toISOString(),
        reminders: [{ at: new Date(Date.now() + 1000).toISOString(), channels: ['in_app'] }],
      },
      headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    });
    expect(created.status).toBe(201);
    const taskId = created.body.id as string;

    const outbox = await rt.pool.query(
      `SELECT topic, event->>'traceparent' AS tp FROM event_log WHERE event->>'subject' = $1`,
      [taskId],
    );
    expect(outbox.rows.length).toBeGreaterThanOrEqual(2);
    for (const row of outbox.rows) expect(traceIdOf(row.tp)).toBe(traceId);

    const audit = await eventually(
      async () =>
        (await rt.pool.query('SELECT trace_id FROM audit_logs WHERE task_id = $1', [taskId])).rows[0],
    );
    expect(audit.trace_id).toBe(traceId);
    const synced = await eventually(
      async () =>
        (
          await rt.pool.query(
            `SELECT event->>'traceparent' AS tp FROM sync_history WHERE event->>'subject' = $1`,
            [taskId],
          )
        ).rows[0],
    );
    expect(traceIdOf(synced.tp)).toBe(traceId);

    const delivery = await eventually(
      async () =>
        (
          await rt.pool.query(
            `SELECT d.trace_id, d.status FROM deliveries d JOIN reminder_channels c USING (reminder_id, fire_at, channel)
             WHERE c.task_id = $1`,
            [taskId],
          )
        ).rows[0],
      20000,
    );
    expect(delivery).toEqual({ trace_id: traceId, status: 'sent' });
    const notified = await eventually(async () =>
      rt.pool
        .query(
          `SELECT event->>'traceparent' AS tp FROM sync_history WHERE event->>'type' LIKE '%notification.created' AND event->'data'->>'task_id' = $1`,
          [taskId],
        )
        .then((r) => r.rows[0]),
    );
    expect(traceIdOf(notified.tp)).toBe(traceId);

    // The handler's context continues the trace in a span of its own.
    const probeDelivery = await eventually(async () =>
      handled.find((h) => traceIdOf(h.eventTraceparent) === traceId),
    );
    expect(traceIdOf(probeDelivery.traceparent)).toBe(traceId);
    expect(probeDelivery.traceparent).not.toBe(probeDelivery.eventTraceparent);
    const logged = lines.find((l) => l.msg === 'probe handled the event' && l.trace_id === traceId);
    expect(logged).toMatchObject({
      topic: Topics.taskEvents,
      consumer: 'trace-probe',
      event_id: expect.any(String),
    });

    const spans = await eventually(async () => {
      const ours = collector.spans.filter((s) => s.traceId === traceId);
      const consumers = new Set(
        ours.filter((s) => s.kind === 5).map((s) => String(s.attributes['messaging.consumer.group.name'])),
      );
      const server = ours.some((s) => s.kind === 2 && s.name === 'POST /api/tasks');
      return server && consumers.has('audit') && [...consumers].some((c) => c.startsWith('sync-'))
        ? ours
        : undefined;
    }, 20000);
    expect(
      spans.some((s) => s.kind === 5 && s.attributes['messaging.destination.name'] === Topics.taskUpdates),
    ).toBe(true);
  });
});
