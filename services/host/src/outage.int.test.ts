import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type EmbeddedDatabase, startEmbeddedPostgres } from '@taskstream/platform';
import {
  eventually,
  freePort,
  signUp,
  startTestRuntime,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { allServices } from './index.js';

// A database outage is answered, not dumped. The host runs on a PostgreSQL of
// this test's own, so stopping and freezing it touches no other test.

/** The postmaster and every process it started (backends, checkpointer, walwriter...). */
function postgresProcesses(dataDir: string): number[] {
  const postmaster = Number(
    readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0],
  );
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        // "pid (comm) state ppid ...": comm may hold spaces, the fields after its ')' do not.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

describe('database outage', () => {
  let dataDir: string;
  let port: number;
  let db: EmbeddedDatabase;
  let rt: TestRuntime;
  let token: string;
  const lines: string[] = [];
  let frozen: number[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-outage-'));
    await chmod(dataDir, 0o755); // as root, the server runs as the postgres user and must reach it
    port = await freePort();
    db = await startEmbeddedPostgres({ dataDir, port });
    // The default interval (10 s): what a deployment logs.
    const logger = createLogger(
      { LOG_LEVEL: 'info', NODE_ENV: 'test', LOG_REPEAT_INTERVAL_MS: 10_000 },
      'outage',
      { write: (line: string) => void lines.push(line) },
    );
    rt = await startTestRuntime(allServices, {
      logger,
      database: { url: db.url, drop: async () => undefined },
      env: { DATABASE_CONNECT_TIMEOUT_MS: '1000', DATABASE_STATEMENT_TIMEOUT_MS: '2000' },
    });
    ({ token } = await signUp(rt, {
      email: 'outage@example.com',
      password: 'a quiet outage window',
      name: 'Outage',
    }));
    expect((await rt.request('POST', '/api/tasks', { token, body: { title: 'Before' } })).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    await rt?.close();
    await db?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** A request and how long its answer took. */
  async function timed(method: string, route: string, body?: unknown) {
    const started = performance.now();
    const res = await rt.request(method, route, { token, body });
    return { ...res, ms: performance.now() - started };
  }

  test('PostgreSQL frozen (SIGSTOP): 503 within a few seconds, /readyz within 1 s', async () => {
    frozen = postgresProcesses(dataDir);
    expect(frozen.length).toBeGreaterThan(1);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // More requests at once than the pool has connections: the rest wait for a free one, bounded too.
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          i % 3 ? timed('GET', '/api/tasks') : timed('POST', '/api/tasks', { title: 'Frozen' }),
        ),
      );
      expect(
        answers.map((a) => [a.status, a.body?.error?.code, Boolean(a.headers.get('retry-after'))]),
      ).toEqual(Array(15).fill([503, 'unavailable', true]));
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(6000);
      for (let i = 0; i < 3; i++) {
        const readyz = await timed('GET', '/readyz');
        expect([readyz.status, readyz.ms < 1000]).toEqual([503, true]);
      }
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      frozen = [];
    }
    await eventually(async () => (await timed('GET', '/api/tasks')).status === 200, 30_000, 200);
    const titles = ((await timed('GET', '/api/tasks?limit=200')).body.items as { title: string }[]).map(
      (t) => t.title,
    );
    expect(titles).toContain('Before');
  }, 120_000);

  test('PostgreSQL stopped: 503 unavailable with Retry-After within 5 s, and at most 10 log lines in 10 s', async () => {
    const before = lines.length;
    await db.stop();
    const until = Date.now() + 10_000;
    const answers: { status: number; code?: string; retryAfter: string | null; ms: number }[] = [];
    // Three clients at once, each as fast as it is answered, for 10 s.
    await Promise.all(
      [0, 1, 2].map(async (client) => {
        while (Date.now() < until) {
          const res =
            client === 0
              ? await timed('POST', '/api/tasks', { title: 'During' })
              : await timed('GET', '/api/tasks');
          answers.push({
            status: res.status,
            code: res.body?.error?.code,
            retryAfter: res.headers.get('retry-after'),
            ms: res.ms,
          });
        }
      }),
    );
    const logged = lines.slice(before);
    expect(answers.length).toBeGreaterThan(30);
    expect(answers.filter((a) => a.status !== 503 || a.code !== 'unavailable' || !a.retryAfter)).toEqual([]);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(5000);
    // The first failure of each kind is there, with what happened; repeats only as counts.
    if (logged.length > 10) throw new Error(`${logged.length} log lines in 10 s:\n${logged.join('')}`);
    // One group whoever logs it: the first line (or, when it was still counting from the freeze
    // just before, the count of the interval).
    expect(logged.join('')).toMatch(/database unavailable/);

    const readyz = await timed('GET', '/readyz');
    expect(readyz.status).toBe(503);
    expect(readyz.ms).toBeLessThan(1000);

    // Back: answered again without a restart of the host.
    db = await startEmbeddedPostgres({ dataDir, port });
    await eventually(async () => (await timed('GET', '/api/tasks')).status === 200, 30_000, 200);
    expect((await timed('GET', '/readyz')).status).toBe(200);
  }, 120_000);
});
