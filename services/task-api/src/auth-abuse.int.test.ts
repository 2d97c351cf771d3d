import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createTestDatabase,
  eventually,
  signUp,
  startTestRuntime,
  TEST_JWT_SECRET,
  type TestDatabase,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';

/**
 * Login and registration against a real server and PostgreSQL, as an attacker would use them:
 * bursts of wrong passwords, probing which emails have accounts, weak passwords.
 * The chart's task-api memory limit is 384Mi.
 */
const CHART_MEMORY_LIMIT = 384 * 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

let rt: TestRuntime;
let alice: { token: string; email: string };

const login = (email: string, password: string, address?: string) =>
  rt.request('POST', '/api/auth/login', {
    body: { email, password },
    headers: address ? { 'x-forwarded-for': address } : {},
  });

beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService], {
    // The defaults, which the test runtime otherwise raises.
    env: {
      AUTH_RATE_LIMIT_ATTEMPTS: '10',
      AUTH_RATE_LIMIT_WINDOW_SECONDS: '900',
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_QUEUE: '16',
    },
  });
  const email = `alice-${Date.now()}@example.com`;
  alice = { email, token: (await signUp(rt, { email, password: 'alice-password', name: 'Alice' })).token };
}, 60_000);
afterAll(async () => rt?.close());

describe('password checks under a burst of wrong logins', () => {
  it('beyond the bulkhead and its queue, logins get 503 with Retry-After at once', async () => {
    // Many accounts from many addresses: no limit applies, the bulkhead (1 at once, 16 waiting) does.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        login(`nobody-${i}-${Date.now()}@example.com`, 'whatever-password', `203.0.113.${i + 1}`),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(1 + 16 + 2);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(60 - 20);
    const busy = answers.find((a) => a.status === 503)!;
    expect(busy.body.error.code).toBe('busy');
    expect(busy.headers.get('retry-after')).toBe('1');
  }, 120_000);

  it('10 wrong logins from one address, then 429 for any account from it', async () => {
    const address = '192.0.2.10';
    for (let i = 0; i < 10; i++) {
      expect((await login(`someone-${i}@example.com`, 'wrong-password', address)).status).toBe(401);
    }
    const refused = await login(alice.email, 'alice-password', address);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_attempts');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(800);
  }, 120_000);
});

describe('the longest email the contract allows (254 characters)', () => {
  // Found by the API fuzz test: the account's limiter key held the address, and a key beyond the
  // table's varchar(255) failed every login of such an account with a 500.
  const email = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;

  it('registers, logs in, and is limited per account like any other', async () => {
    expect(email).toHaveLength(254);
    const registered = await rt.request('POST', '/api/auth/register', {
      body: { email, password: 'a long address and password', name: 'Long' },
      headers: { 'x-forwarded-for': '192.0.2.70' },
    });
    expect(registered.status).toBe(202);
    expect((await login(email, 'a long address and password', '192.0.2.71')).status).toBe(200);
    for (let i = 0; i < 10; i++)
      expect((await login(email, 'wrong-password', `192.0.2.${80 + i}`)).status).toBe(401);
    const refused = await login(email, 'a long address and password', '192.0.2.99');
    expect(refused.status).toBe(429);
  }, 60_000);
});

/**
 * The burst against task-api in a process of its own (as deployed), so that its RSS is the
 * server's alone and the attacking client's work is not on the server's event loop.
 */
describe('a task-api process under 200 parallel wrong logins', () => {
  let server: ChildProcess;
  let database: TestDatabase;
  let url: string;
  let output = '';
  const call = async (
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(url + route, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };
  const rssOf = async (pid: number) =>
    Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

  beforeAll(async () => {
    database = await createTestDatabase();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-auth-abuse-'));
    server = spawn(process.execPath, ['--import', 'tsx', 'services/task-api/src/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'test',
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        PORT: String(port),
        JWT_SECRET: TEST_JWT_SECRET,
        SEED_DEMO_USERS: 'false',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d) => (output += d));
    server.stderr!.on('data', (d) => (output += d));
    await eventually(async () => (await fetch(`${url}/readyz`)).ok, 60_000, 200).catch((err) => {
      throw new Error(`${err}\n${output}`);
    });
  }, 90_000);
  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exit = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exit;
    }
    await database?.drop();
  });

  it('RSS stays under the chart limit, another user stays fast, the account gets 429', async () => {
    const signUpHere = async (email: string, password: string) => {
      expect((await call('POST', '/api/auth/register', { email, password, name: 'U' })).status).toBe(202);
      const res = await call('POST', '/api/auth/login', { email, password });
      expect(res.status).toBe(200);
      return res.body.token as string;
    };
    const aliceToken = await signUpHere(`alice-${Date.now()}@example.com`, 'alice-password');
    const victim = `victim-${Date.now()}@example.com`;
    await signUpHere(victim, 'victim-password-1');
    let peak = await rssOf(server.pid!);
    const before = peak;
    const sampler = setInterval(() => {
      rssOf(server.pid!).then(
        (rss) => (peak = Math.max(peak, rss)),
        () => undefined,
      );
    }, 20);
    // Alice's own requests, one after the other: first alone (this machine's noise), then meanwhile.
    let attacking = true;
    const aliceLists = async (until: () => boolean) => {
      const latencies: number[] = [];
      while (!until()) {
        const started = performance.now();
        const res = await fetch(`${url}/api/tasks`, { headers: { authorization: `Bearer ${aliceToken}` } });
        await res.arrayBuffer();
        latencies.push(performance.now() - started);
        expect(res.status).toBe(200);
      }
      return latencies.sort((a, b) => a - b);
    };
    const quietUntil = Date.now() + 3000;
    const quiet = await aliceLists(() => Date.now() > quietUntil);
    const other = aliceLists(() => !attacking);
    // Each from its own address (a botnet): only the account's limit and the bulkhead hold them.
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(
          'POST',
          '/api/auth/login',
          { email: victim, password: `wrong-guess-${i}` },
          {
            'x-forwarded-for': `198.51.100.${i + 1}`,
          },
        ),
      ),
    );
    attacking = false;
    const latencies = await other;
    clearInterval(sampler);

    const statuses = answers.map((a) => a.status);
    const count = (s: number) => statuses.filter((x) => x === s).length;
    // The account's budget: 10 attempts reach a password check, the rest are refused up front.
    expect(count(401) + count(503)).toBe(10);
    expect(count(429)).toBe(190);
    for (const a of answers.filter((x) => x.status === 429 || x.status === 503))
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const p99 = (xs: number[]) => xs[Math.floor(xs.length * 0.99)] ?? xs.at(-1)!;
    console.log(
      `200 wrong logins: server RSS ${Math.round(before / 2 ** 20)} -> peak ${Math.round(peak / 2 ** 20)} MiB; another user's GET /api/tasks p99 ${p99(latencies).toFixed(1)} ms over ${latencies.length} requests (alone: ${p99(quiet).toFixed(1)} ms over ${quiet.length})`,
    );
    expect(peak).toBeLessThan(CHART_MEMORY_LIMIT);
    // 100 ms is the aim on a machine of its own. This test also runs on a shared 2-core box at a
    // load of ~30, where even alone the p99 reaches 35-70 ms and the attack's 200 connections and
    // one busy core add as much again: it asserts 250 ms or 4x the p99 alone, whichever is more.
    // Before the bounds the same burst took it from 5 ms to 6.4 s.
    expect(p99(latencies)).toBeLessThan(Math.max(250, 4 * p99(quiet)));
    // The right password is refused too while the account is locked; another account is not.
    const locked = await call('POST', '/api/auth/login', { email: victim, password: 'victim-password-1' });
    expect(locked.status).toBe(429);
  }, 180_000);
});

describe('no account enumeration', () => {
  it('an unknown email costs what a known one does', async () => {
    const time = async (email: string, address: string) => {
      const started = performance.now();
      expect((await login(email, 'not-the-password', address)).status).toBe(401);
      return performance.now() - started;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++) {
      known.push(await time(alice.email, `192.0.2.${100 + i}`));
      unknown.push(await time(`ghost-${i}@example.com`, `192.0.2.${110 + i}`));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Both pay one scrypt check: same order of magnitude, not 5 ms against a second.
    expect(median(unknown)).toBeGreaterThan(median(known) / 3);
    // Wrong logins for alice's account from elsewhere did not lock it (four, below ten).
  }, 120_000);

  it('registering a taken address answers exactly like a new one and changes nothing', async () => {
    const fresh = await rt.request('POST', '/api/auth/register', {
      body: { email: `new-${Date.now()}@example.com`, password: 'a fresh passphrase', name: 'New' },
      headers: { 'x-forwarded-for': '192.0.2.200' },
    });
    const taken = await rt.request('POST', '/api/auth/register', {
      body: { email: alice.email, password: 'a fresh passphrase', name: 'Mallory' },
      headers: { 'x-forwarded-for': '192.0.2.201' },
    });
    expect(taken.status).toBe(fresh.status);
    expect(taken.status).toBe(202);
    expect(taken.body).toEqual(fresh.body);
    expect((await login(alice.email, 'alice-password', '192.0.2.202')).status).toBe(200);
  }, 60_000);

  it('registration is limited per address', async () => {
    const address = '192.0.2.220';
    const answers: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await rt.request('POST', '/api/auth/register', {
        body: { email: `many-${i}-${Date.now()}@example.com`, password: 'not-valid', name: 'M' },
        headers: { 'x-forwarded-for': address },
      });
      answers.push(res.status);
    }
    // Counted before the body's checks: ten 400s (too short), then 429.
    expect(answers).toEqual([...Array(10).fill(400), 429]);
  }, 60_000);
});

describe('password policy', () => {
  test.each([
    ['shorter than 10 characters', 'short-pw', /at least 10 characters/],
    ['a common password', 'qwertyuiop', /commonly used password/],
    ['the email', 'policy-user@example.com', /email/],
    ['too guessable', 'Password123!', /commonly used|too easy/],
  ])('a password that is %s is refused with a reason', async (_what, password, reason) => {
    const res = await rt.request('POST', '/api/auth/register', {
      body: { email: 'policy-user@example.com', password, name: 'Policy' },
      headers: { 'x-forwarded-for': `192.0.2.${Math.floor(Math.random() * 50) + 150}` },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(reason);
  });
});

describe('client address', () => {
  it('X-Forwarded-For is believed only from a trusted proxy', async () => {
    const direct = await startTestRuntime([createTaskApiService], {
      env: { TRUST_PROXY: 'false', AUTH_RATE_LIMIT_ATTEMPTS: '3' },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await direct.request('POST', '/api/auth/login', {
          body: { email: `x-${i}@example.com`, password: 'wrong-password' },
          // A new address each time would dodge the limit if it were believed.
          headers: { 'x-forwarded-for': `198.18.0.${i + 1}` },
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await direct.close();
    }
  }, 60_000);
});

describe('REGISTRATION=closed', () => {
  it('refuses self-registration; an admin creates accounts', async () => {
    const closed = await startTestRuntime([createTaskApiService], {
      env: { REGISTRATION: 'closed', SEED_DEMO_USERS: 'true' },
    });
    try {
      const res = await closed.request('POST', '/api/auth/register', {
        body: { email: 'eve@example.com', password: 'eve-password-x', name: 'Eve' },
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('registration_closed');
      const admin = await closed.request('POST', '/api/auth/login', {
        body: { email: 'admin@example.com', password: 'admin-password' },
      });
      const user = await closed.request('POST', '/api/auth/login', {
        body: { email: 'alice@example.com', password: 'alice-password' },
      });
      const body = { email: 'eve@example.com', password: 'eve-password-x', name: 'Eve' };
      expect(
        (await closed.request('POST', '/api/admin/users', { token: user.body.token, body })).status,
      ).toBe(403);
      const created = await closed.request('POST', '/api/admin/users', { token: admin.body.token, body });
      expect(created.status).toBe(201);
      expect(created.body.user).toMatchObject({ email: 'eve@example.com', role: 'user' });
      const eve = await closed.request('POST', '/api/auth/login', {
        body: { email: 'eve@example.com', password: 'eve-password-x' },
      });
      expect(eve.status).toBe(200);
    } finally {
      await closed.close();
    }
  }, 60_000);
});

describe('stored hashes', () => {
  it('a hash of the old parameters (N=2^17) still logs in and is replaced by one of the new', async () => {
    const email = `old-${Date.now()}@example.com`;
    await signUp(rt, { email, password: 'old-hash-password', name: 'Old' });
    // The hash the previous release stored for this password.
    const { scryptSync, randomBytes } = await import('node:crypto');
    const salt = randomBytes(16);
    const hash = scryptSync('old-hash-password', salt, 32, {
      N: 2 ** 17,
      r: 8,
      p: 1,
      maxmem: 256 * 1024 * 1024,
    });
    const old = ['scrypt', 2 ** 17, 8, 1, salt.toString('base64url'), hash.toString('base64url')].join('$');
    await rt.pool.query('UPDATE users SET password_hash = $2 WHERE lower(email) = lower($1)', [email, old]);
    expect((await login(email, 'old-hash-password', '192.0.2.230')).status).toBe(200);
    const { rows } = await rt.pool.query('SELECT password_hash FROM users WHERE lower(email) = lower($1)', [
      email,
    ]);
    expect(rows[0].password_hash).toMatch(/^scrypt\$32768\$8\$3\$/);
    expect((await login(email, 'old-hash-password', '192.0.2.231')).status).toBe(200);
  }, 60_000);

  it('the password can be changed with the current one, and the old one stops working', async () => {
    const email = `change-${Date.now()}@example.com`;
    const { token } = await signUp(rt, { email, password: 'first-passphrase', name: 'Change' });
    const wrong = await rt.request('POST', '/api/auth/password', {
      token,
      body: { current_password: 'not-it-at-all', new_password: 'second-passphrase' },
    });
    expect(wrong.status).toBe(401);
    const changed = await rt.request('POST', '/api/auth/password', {
      token,
      body: { current_password: 'first-passphrase', new_password: 'second-passphrase' },
    });
    expect(changed.status).toBe(204);
    expect((await login(email, 'first-passphrase', '192.0.2.240')).status).toBe(401);
    expect((await login(email, 'second-passphrase', '192.0.2.241')).status).toBe(200);
  }, 60_000);
});
