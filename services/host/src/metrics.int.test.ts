import { randomUUID } from 'node:crypto';
import { createAuditService } from '@taskstream/audit';
import { Topics } from '@taskstream/contracts';
import { createNotificationService } from '@taskstream/notification';
import type { ServiceFactory } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = new RegExp(`^(${'[a-zA-Z_][a-zA-Z0-9_]*'})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`);

/**
 * The Prometheus text exposition format (0.0.4), strictly: HELP/TYPE lines, samples with
 * escaped label values, values as Go floats. Throws on the first line that breaks it.
 */
function parsePrometheusText(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, index) => {
    const fail = (why: string) => {
      throw new Error(`line ${index + 1}: ${why}: ${line}`);
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const meta = new RegExp(`^# (HELP|TYPE) (${NAME})(?: (.*))?$`).exec(line);
      if (!meta) return; // a plain comment
      if (meta[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(meta[3] ?? '')) fail('unknown type');
        if (types.has(meta[2]!)) fail('second TYPE line');
        types.set(meta[2]!, meta[3]!);
      }
      return;
    }
    const head = new RegExp(`^(${NAME})`).exec(line);
    if (!head) fail('no metric name');
    let rest = line.slice(head![1]!.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const label = LABEL.exec(rest);
        if (!label) fail('bad label');
        labels[label![1]!] = label![2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        rest = rest.slice(label![0].length);
        if (rest.startsWith(',')) rest = rest.slice(1);
        else if (!rest.startsWith('}')) fail('expected , or }');
      }
      rest = rest.slice(1);
    }
    const value = /^ (NaN|[+-]Inf|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?: -?\d+)?$/.exec(rest);
    if (!value) fail('bad value');
    const v = value![1]!;
    samples.push({
      name: head![1]!,
      labels,
      value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v),
    });
  });
  return { types, samples };
}

describe('/metrics', () => {
  let rt: TestRuntime;
  const poison: ServiceFactory = () => ({
    name: 'recurring',
    subscriptions: [
      {
        topic: Topics.taskEvents,
        consumer: 'metrics-probe',
        async handler(event) {
          if (event.type === 'com.taskstream.test.poison') throw new Error('poisoned');
          return 'DROP';
        },
      },
    ],
  });

  beforeAll(async () => {
    rt = await startTestRuntime(
      [createTaskApiService, createAuditService, createSyncService, createNotificationService, poison],
      {
        env: { RETRY_DELAYS_MS: '20' },
      },
    );
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('parses as Prometheus text and has the operations series', async () => {
    const userId = randomUUID();
    await rt.pool.query(
      `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'M', 'user', 'x')`,
      [userId, `metrics-${userId}@example.com`],
    );
    const token = await rt.auth.sign({ userId, role: 'user' });
    expect((await rt.request('POST', '/api/tasks', { token, body: { title: 'measured' } })).status).toBe(201);
    await rt.ports.bus.publish([
      {
        topic: Topics.taskEvents,
        partitionKey: userId,
        event: {
          specversion: '1.0',
          id: randomUUID(),
          type: 'com.taskstream.test.poison',
          source: '/test',
          time: new Date().toISOString(),
          data: {},
        },
      },
    ]);
    await eventually(async () => (await rt.pool.query('SELECT 1 FROM dead_letters')).rowCount === 1);
    await eventually(async () => (await rt.pool.query('SELECT 1 FROM audit_logs')).rowCount === 1);

    const res = await fetch(`${rt.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheusText(await res.text());
    const has = (name: string, labels: Record<string, string> = {}) =>
      samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

    expect(types.get('taskstream_http_request_duration_seconds')).toBe('histogram');
    expect(
      has('taskstream_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/tasks',
        status: '201',
      }),
    ).toBe(true);
    expect(has('taskstream_events_published_total', { topic: Topics.taskEvents })).toBe(true);
    expect(
      has('taskstream_events_consumed_total', {
        topic: Topics.taskEvents,
        consumer: 'audit',
        result: 'success',
      }),
    ).toBe(true);
    expect(
      has('taskstream_events_retried_total', { topic: Topics.taskEvents, consumer: 'metrics-probe' }),
    ).toBe(true);
    expect(
      has('taskstream_events_dead_lettered_total', { topic: Topics.taskEvents, consumer: 'metrics-probe' }),
    ).toBe(true);
    expect(
      has('taskstream_event_handler_duration_seconds_bucket', {
        topic: Topics.taskEvents,
        consumer: 'audit',
        le: '+Inf',
      }),
    ).toBe(true);
    expect(types.get('taskstream_consumer_lag')).toBe('gauge');
    expect(has('taskstream_consumer_lag', { consumer: 'audit', topic: Topics.taskEvents })).toBe(true);
    expect(has('taskstream_outbox_backlog')).toBe(true);
    expect(has('taskstream_sync_connections')).toBe(true);
    expect(types.get('taskstream_reminder_fire_delay_seconds')).toBe('histogram');
    expect(has('taskstream_reminder_fire_delay_seconds_count')).toBe(true);
  });

  it('refuses what is not the text format (the parser can fail)', () => {
    expect(() => parsePrometheusText('taskstream_x{a="1" 2\n')).toThrow(/line 1/);
    expect(() => parsePrometheusText('taskstream_x one\n')).toThrow(/bad value/);
  });
});
