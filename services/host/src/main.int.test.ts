import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The process `npm start` runs, as a process: on SIGTERM it drains every service and stops its
// embedded PostgreSQL last, then exits 0, leaving no server behind; a port in use is an error a
// user can act on.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
    server.on('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `work` while another program listens on a port of loopback. */
async function withTakenPort(work: (port: number) => Promise<void>) {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    await work((taken.address() as { port: number }).port);
  } finally {
    taken.close();
  }
}

/** The lines a failed start wrote to stderr. */
async function failedStart(child: ChildProcess) {
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await exited(child);
  return { code, stderr, lines: stderr.split('\n').filter((line) => line.trim()) };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

let dataDir: string;

function startMain(port: number, pgPort: number, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'services/host/src/main.ts'], {
    cwd: root,
    // As `npm start` runs: no DATABASE_URL, no NODE_ENV (jest sets it to test).
    env: Object.fromEntries(
      Object.entries({
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        EMBEDDED_PG_PORT: String(pgPort),
        LOG_LEVEL: 'info',
        ...extraEnv,
      }).filter(([name]) => name !== 'DATABASE_URL' && name !== 'NODE_ENV'),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('npm start process', () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-main-'));
    await chmod(dataDir, 0o755); // as root, the server runs as the postgres user and must reach it
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  /** Starts the entry and waits for its ready line; `stop()` sends SIGTERM and resolves with the exit code. */
  async function runMain(ports?: { port: number; pgPort: number }) {
    const { port, pgPort } = ports ?? { port: await freePort(), pgPort: await freePort() };
    const child = startMain(port, pgPort);
    const output = { log: '' };
    child.stdout!.on('data', (d) => (output.log += d));
    child.stderr!.on('data', (d) => (output.log += d));
    const exit = exited(child);
    const deadline = Date.now() + 120_000;
    while (!output.log.includes('taskstream is ready at') && Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`exited early:\n${output.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!output.log.includes('taskstream is ready at')) {
      child.kill('SIGKILL');
      throw new Error(`not ready:\n${output.log}`);
    }
    const api = async (method: string, route: string, body?: unknown, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${route}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const login = async () =>
      (await api('POST', '/api/auth/login', { email: 'alice@example.com', password: 'alice-password' })).body
        .token as string;
    return {
      output,
      api,
      login,
      ports: { port, pgPort },
      /** As `kill -9 <pid>` of `npm start`: the process only, not its process group. */
      async kill9() {
        child.kill('SIGKILL');
        await exit;
      },
      async stop() {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        try {
          return await exit;
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  test('SIGTERM drains the services, then stops the embedded database, and exits 0; a restart keeps the data', async () => {
    const first = await runMain();
    const token = await first.login();
    // Work for every consumer while the signal comes.
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        first.api('POST', '/api/tasks', { title: `Before the signal ${i}` }, token),
      ),
    );
    expect(created.map((c) => c.status)).toEqual(Array(20).fill(201));
    // The README's curl walk: register, create, list, complete.
    const registered = await first.api('POST', '/api/auth/register', {
      email: 'carol@example.com',
      password: 'carol-password',
      name: 'Carol',
    });
    expect(registered.status).toBe(202);
    const signedIn = await first.api('POST', '/api/auth/login', {
      email: 'carol@example.com',
      password: 'carol-password',
    });
    expect(signedIn.status).toBe(200);
    const carol = signedIn.body.token as string;
    const task = await first.api(
      'POST',
      '/api/tasks',
      { title: 'Water the plants', due_date: '2026-12-01T09:00:00+01:00', time_zone: 'Europe/Berlin' },
      carol,
    );
    expect(task.status).toBe(201);
    const listed = await first.api('GET', '/api/tasks', undefined, carol);
    expect((listed.body.items as { id: string }[]).map((t) => t.id)).toEqual([task.body.id]);
    const done = await first.api('POST', `/api/tasks/${task.body.id}/complete`, undefined, carol);
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('completed');
    expect(await first.stop()).toBe(0);
    expect(first.output.log).toContain('shutting down');
    // Nothing lost its database while it drained.
    expect(first.output.log).not.toMatch(/terminating connection|connection lost|error during shutdown/);
    // The database went down with the process (a clean stop removes its pid file).
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    // Started again on the same data: the same accounts and tasks, and every event was handled.
    const second = await runMain();
    try {
      const again = await second.login();
      const carolAgain = await second.api('POST', '/api/auth/login', {
        email: 'carol@example.com',
        password: 'carol-password',
      });
      expect(carolAgain.status).toBe(200);
      const carolTasks = await second.api('GET', '/api/tasks', undefined, carolAgain.body.token as string);
      expect((carolTasks.body.items as { status: string }[]).map((t) => t.status)).toEqual(['completed']);
      const list = await second.api('GET', '/api/tasks?limit=100', undefined, again);
      const titles = (list.body.items as { title: string }[]).map((t) => t.title);
      expect(titles.filter((t) => t.startsWith('Before the signal')).sort()).toEqual(
        Array.from({ length: 20 }, (_, i) => `Before the signal ${i}`).sort(),
      );
      const audit = await second.api('GET', '/api/audit-logs?limit=100', undefined, again);
      expect((audit.body.items as unknown[]).length).toBeGreaterThanOrEqual(20);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);

  test(
    'a port already in use is a one-line error naming it, exit 1, and no database left behind',
    () =>
      withTakenPort(async (port) => {
        const { code, lines } = await failedStart(startMain(port, await freePort()));
        expect(code).toBe(1);
        expect(lines).toEqual([
          `taskstream: listen EADDRINUSE: address already in use 127.0.0.1:${port}. Stop what uses that port, or set PORT to another one.`,
        ]);
        expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
      }),
    180_000,
  );

  test('after kill -9 the next start stops the PostgreSQL the killed one left running, and comes up with the data', async () => {
    const first = await runMain();
    const token = await first.login();
    expect((await first.api('POST', '/api/tasks', { title: 'Before kill -9' }, token)).status).toBe(201);
    await first.kill9();
    // What kill -9 leaves: the embedded PostgreSQL, running without its parent.
    const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
    const orphan = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    expect(alive(orphan)).toBe(true);

    // Whatever the outcome, no server of this test outlives it.
    const cleanup = () => alive(orphan) && process.kill(orphan, 'SIGINT');
    const second = await runMain(first.ports).catch((err) => {
      cleanup();
      throw err;
    }); // as `npm start` again: the same ports
    try {
      expect(second.output.log).toContain(`left running by an earlier start (pid ${orphan})`);
      expect(alive(orphan)).toBe(false);
      const list = await second.api('GET', '/api/tasks?limit=100', undefined, await second.login());
      expect((list.body.items as { title: string }[]).map((t) => t.title)).toContain('Before kill -9');
    } finally {
      cleanup();
      expect(await second.stop()).toBe(0);
    }
    expect(existsSync(pidFile)).toBe(false);
  }, 300_000);

  test(
    "the embedded PostgreSQL's port taken by another program is one line naming it and EMBEDDED_PG_PORT, exit 1",
    () =>
      withTakenPort(async (pgPort) => {
        const { code, lines } = await failedStart(startMain(await freePort(), pgPort));
        expect(code).toBe(1);
        expect(lines).toEqual([
          expect.stringMatching(new RegExp(`^taskstream: port ${pgPort} .*EMBEDDED_PG_PORT`)),
        ]);
      }),
    180_000,
  );

  test('bad settings: one line per bad variable, exit 1, no stack', async () => {
    const child = startMain(await freePort(), await freePort(), {
      PORT: 'eighty',
      JWT_SECRET: 'short',
      RETRY_DELAYS_MS: '1s,5s',
    });
    const { code, lines } = await failedStart(child);
    expect(code).toBe(1);
    expect(lines.sort()).toEqual([
      expect.stringMatching(/^taskstream: invalid setting JWT_SECRET: /),
      expect.stringMatching(/^taskstream: invalid setting PORT: /),
      expect.stringMatching(/^taskstream: invalid setting RETRY_DELAYS_MS: comma-separated milliseconds/),
    ]);
  }, 120_000);
});
