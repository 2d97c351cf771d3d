import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
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

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

let dataDir: string;

function startMain(port: number, pgPort: number): ChildProcess {
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
  async function runMain() {
    const [port, pgPort] = [await freePort(), await freePort()];
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

  test('a port already in use is a one-line error naming it, exit 1, and no database left behind', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const child = startMain(port, await freePort());
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      expect(await exited(child)).toBe(1);
      expect(stderr).toContain(`taskstream: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      expect(stderr).toContain('set PORT to another one');
      expect(stderr).not.toContain('    at '); // no stack
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    } finally {
      taken.close();
    }
  }, 180_000);
});
