import { Writable } from 'node:stream';
import { startTestRuntime, type TestDatabase, type TestRuntime } from '@taskstream/platform/test-support';
import { pino } from 'pino';
import { createTaskApiService, DEMO_USERS } from './index.js';

/**
 * A production start is safe without extra settings: no account with a published password, and
 * no public /metrics. Each start here is a real server on its own PostgreSQL database.
 */

const admin = DEMO_USERS.find((u) => u.role === 'admin')!;
/** Seeding hashes three passwords and retiring checks and rehashes them: slow on a busy machine. */
const HASHING_TIMEOUT_MS = 240_000;

/** A logger whose JSON lines the test reads. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const login = (rt: TestRuntime, email: string, password: string) =>
  rt.request('POST', '/api/auth/login', { body: { email, password } });

async function start(env: Record<string, string | undefined>, database?: TestDatabase) {
  const captured = capturedLogger();
  const rt = await startTestRuntime([createTaskApiService], {
    // SEED_DEMO_USERS undefined: the test runtime's own default (off) does not apply.
    env: { NODE_ENV: 'production', SEED_DEMO_USERS: undefined, ...env },
    logger: captured.logger,
    database,
  });
  return { rt, lines: captured.lines };
}

describe('a production start', () => {
  it('has no demo users unless asked for', async () => {
    const { rt } = await start({});
    try {
      expect(rt.config.SEED_DEMO_USERS).toBe(false);
      expect((await login(rt, admin.email, admin.password)).status).toBe(401);
      const { rows } = await rt.pool.query('SELECT email FROM users WHERE email = ANY($1)', [
        DEMO_USERS.map((u) => u.email),
      ]);
      expect(rows).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  it(
    'asked for demo users, gives them random passwords, logged once, never the published ones',
    async () => {
      const { rt, lines } = await start({ SEED_DEMO_USERS: 'true' });
      try {
        expect((await login(rt, admin.email, admin.password)).status).toBe(401);
        const created = lines.filter((l) => l.msg === 'demo user created with a random password');
        expect(created.map((l) => l.email).sort()).toEqual(DEMO_USERS.map((u) => u.email).sort());
        const adminLine = created.find((l) => l.email === admin.email)!;
        const res = await login(rt, admin.email, String(adminLine.password));
        expect(res.status).toBe(200);
        expect(res.body.user.role).toBe('admin');
        expect(JSON.stringify(lines)).not.toContain(admin.password);
      } finally {
        await rt.close();
      }
    },
    HASHING_TIMEOUT_MS,
  );

  it(
    'retires a published demo password left by an earlier development start',
    async () => {
      const dev = await start({ NODE_ENV: 'development', SEED_DEMO_USERS: 'true' });
      const database = dev.rt.database;
      expect((await login(dev.rt, admin.email, admin.password)).status).toBe(200);
      await dev.rt.stop();
      const { rt, lines } = await start({}, database);
      try {
        expect((await login(rt, admin.email, admin.password)).status).toBe(401);
        expect(lines.filter((l) => /still had its published password/.test(String(l.msg)))).toHaveLength(3);
      } finally {
        await rt.stop();
        await database.drop();
      }
    },
    HASHING_TIMEOUT_MS,
  );

  it('serves /metrics on METRICS_PORT only, never on the public port', async () => {
    const { rt } = await start({ METRICS_PORT: '0' });
    try {
      expect((await rt.request('GET', '/metrics')).status).toBe(404);
      expect(rt.metricsUrl).toBeDefined();
      const metrics = await fetch(`${rt.metricsUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/taskstream_http_request_duration_seconds/);
      // The metrics port serves nothing else.
      expect((await fetch(`${rt.metricsUrl}/api/tasks`)).status).toBe(404);
    } finally {
      await rt.close();
    }
    const without = await start({});
    try {
      expect((await without.rt.request('GET', '/metrics')).status).toBe(404);
      expect(without.rt.metricsUrl).toBeUndefined();
    } finally {
      await without.rt.close();
    }
  });
});
