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

  test('SIGTERM drains the services, then stops the embedded database, and exits 0', async () => {
    const [port, pgPort] = [await freePort(), await freePort()];
    const child = startMain(port, pgPort);
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exit = exited(child);
    try {
      const deadline = Date.now() + 120_000;
      while (!log.includes('taskstream is ready at') && Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`exited early:\n${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(log).toContain('taskstream is ready at');
      // Work for every consumer while the signal comes.
      const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'alice@example.com', password: 'alice-password' }),
      });
      const { token } = (await login.json()) as { token: string };
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`http://127.0.0.1:${port}/api/tasks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ title: `Before the signal ${i}` }),
          }),
        ),
      );
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(log).toContain('shutting down');
    // Nothing lost its database while it drained.
    expect(log).not.toMatch(/terminating connection|connection lost|error during shutdown/);
    // The database went down with the process (a clean stop removes its pid file).
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 180_000);

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
