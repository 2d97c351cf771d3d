import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type RunningRuntime, type RuntimeOptions, type ServiceFactory, startRuntime } from '../runtime.js';

export {
  type EventOptions,
  eventEnvelope,
  onTopic,
  type TaskAction,
  type TaskEventOptions,
  taskEvent,
} from './events.js';
export { freePort } from './global-setup.js';
export { sampleTask } from './tasks.js';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on the run's PostgreSQL server (see global-setup). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TASKSTREAM_TEST_ADMIN_URL;
  if (!adminUrl)
    throw new Error('integration tests need the int project global setup (TASKSTREAM_TEST_ADMIN_URL unset)');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TestRuntime extends RunningRuntime {
  database: TestDatabase;
  /** JSON request against the runtime; `token` becomes a bearer header. */
  request<T = any>(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: T; headers: Headers }>;
  /** Stops the runtime and drops its database. */
  close(): Promise<void>;
}

/**
 * Services on a real PostgreSQL database of their own, on a free port, embedded ports.
 * Pass `database` to restart on the same data (the database is then not dropped by close()).
 */
export async function startTestRuntime(
  factories: ServiceFactory[],
  options: RuntimeOptions & { database?: TestDatabase } = {},
): Promise<TestRuntime> {
  const ownsDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-test-data-'));
  const runtime = await startRuntime(factories, {
    ...options,
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      PORT: '0',
      DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      SEED_DEMO_USERS: 'false',
      RETRY_DELAYS_MS: '100,200,400',
      DATABASE_POOL_SIZE: '10',
      // Tests register many users from 127.0.0.1; auth-limits tests set their own numbers.
      AUTH_RATE_LIMIT_ATTEMPTS: '100000',
      // and sign many users up at once: their password hashes wait in line instead of a 503.
      PASSWORD_HASH_QUEUE: '1000',
      PASSWORD_HASH_CONCURRENCY: '4',
      ...options.env,
      DATABASE_URL: database.url,
    },
  });
  return {
    ...runtime,
    database,
    async request(method, requestPath, { token, body, rawBody, headers } = {}) {
      const response = await fetch(runtime.url + requestPath, {
        method,
        headers: {
          ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // plain text (e.g. CSV, metrics)
      }
      return { status: response.status, body: parsed as any, headers: response.headers };
    },
    async close() {
      await runtime.stop();
      if (ownsDatabase) await database.drop();
    },
  };
}

/**
 * Registers an account and logs in (registering answers 202 alike for new and taken addresses,
 * without a token): the new user's token and id.
 */
export async function signUp(
  rt: Pick<TestRuntime, 'request'>,
  body: { email: string; password: string; name: string },
): Promise<{ token: string; user: { id: string; email: string; role: string }; id: string }> {
  const registered = await rt.request('POST', '/api/auth/register', { body });
  if (registered.status !== 202)
    throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await rt.request('POST', '/api/auth/login', {
    body: { email: body.email, password: body.password },
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  return { token: login.body.token, user: login.body.user, id: login.body.user.id };
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Runs `sql` under EXPLAIN ANALYZE and counts the rows (or index entries) its plan nodes that
 * match produced, across loops: how much a query reads, not only what it returns.
 */
export async function rowsRead(
  db: Pick<pg.Pool, 'query'>,
  sql: string,
  params: unknown[],
  matches: (node: Record<string, unknown>) => boolean,
): Promise<number> {
  const { rows } = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  let read = 0;
  const walk = (node: { Plans?: unknown[] } & Record<string, unknown>) => {
    if (matches(node)) read += Number(node['Actual Rows']) * Number(node['Actual Loops']);
    for (const child of node.Plans ?? []) walk(child as typeof node);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  return read;
}
