import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createAuth, startEmbeddedPostgres } from '@taskstream/platform';
import pg from 'pg';
import { readStackEnv, type StackEnv, stackAppUrls } from '../stack/sidecar.js';

/** DATABASE_URL when set, else a fresh embedded PostgreSQL with default (durable) settings. */
export async function benchDatabase(
  settings?: Record<string, string>,
): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-bench-'));
  await chmod(dataDir, 0o755); // as root, the server runs as the postgres user and must reach it
  const database = await startEmbeddedPostgres({
    dataDir,
    port: await freePort(),
    database: 'bench',
    settings,
  });
  return {
    url: database.url,
    async stop() {
      await database.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Environment of a bench runtime: its database, any free port, quiet logs, no demo users. */
export function benchEnv(databaseUrl: string, extra: Record<string, string | undefined> = {}) {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    PORT: '0',
    LOG_LEVEL: 'warn',
    SEED_DEMO_USERS: 'false',
    NODE_ENV: 'production',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
    // Bench users all register from 127.0.0.1.
    AUTH_RATE_LIMIT_ATTEMPTS: '1000000',
    ...extra,
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Linux pressure stall totals (µs since boot): time some task waited for a CPU, and time every
 * task waited for I/O. Undefined where /proc/pressure is missing. Also starts the disk flush
 * probe (once), so `pressureSince` can say how the disk behaved in the same window.
 */
export function pressureTotals(): { cpuSome: number; ioFull: number; at: number } | undefined {
  diskProbe ??= startDiskProbe();
  try {
    const total = (file: string, kind: string) => {
      const line = readFileSync(`/proc/pressure/${file}`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(kind));
      return Number(/total=(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN);
    };
    return { cpuSome: total('cpu', 'some'), ioFull: total('io', 'full'), at: performance.now() };
  } catch {
    return undefined;
  }
}

/** Share of a run's wall time (%) the machine stalled on CPU and on I/O: how noisy the run was. */
export function pressureSince(
  before: ReturnType<typeof pressureTotals>,
  elapsedMs: number,
): Record<string, number> {
  const after = pressureTotals();
  if (!before || !after || elapsedMs <= 0) return {};
  const pct = (us: number) => round((us / 1000 / elapsedMs) * 100, 1);
  return {
    machine_cpu_pressure_pct: pct(after.cpuSome - before.cpuSome),
    machine_io_stall_pct: pct(after.ioFull - before.ioFull),
    ...diskFlushesSince(before.at),
  };
}

/** Flushes slower than this stall every commit waiting for the WAL behind them. */
const DISK_STALL_MS = 50;
let diskProbe: { samples: { at: number; ms: number }[] } | undefined;

/**
 * Every 10 ms, writes 8 KB to a file beside the bench databases and flushes it (fdatasync, as
 * PostgreSQL flushes its WAL), in a worker thread: a commit can never be faster than the disk's
 * flush at that moment, and a virtual disk's flushes stall now and then for hundreds of ms.
 */
function startDiskProbe(): { samples: { at: number; ms: number }[] } {
  const probe = { samples: [] as { at: number; ms: number }[] };
  const file = path.join(tmpdir(), `taskstream-bench-flush-${process.pid}`);
  const worker = new Worker(
    `const fs = require('node:fs');
    const { parentPort, workerData } = require('node:worker_threads');
    const fd = fs.openSync(workerData.file, 'w');
    const page = Buffer.alloc(8192, 1);
    setInterval(() => {
      fs.writeSync(fd, page, 0, page.length, 0);
      const t0 = performance.now();
      fs.fdatasyncSync(fd);
      parentPort.postMessage({ at: performance.timeOrigin + t0, ms: performance.now() - t0 });
    }, 10);`,
    { eval: true, workerData: { file } },
  );
  worker.on('message', (m: { at: number; ms: number }) =>
    probe.samples.push({ at: m.at - performance.timeOrigin, ms: m.ms }),
  );
  worker.on('error', () => undefined);
  worker.unref();
  process.once('exit', () => {
    try {
      unlinkSync(file);
    } catch {}
  });
  return probe;
}

/** The disk's flush times since `from` (performance.now() time): median, worst, and stalled share. */
function diskFlushesSince(from: number): Record<string, number> {
  const samples = diskProbe?.samples.filter((s) => s.at >= from) ?? [];
  if (samples.length === 0) return {};
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const elapsed = performance.now() - from;
  const stalled = sorted.filter((ms) => ms >= DISK_STALL_MS);
  return {
    disk_flush_p50_ms: round(percentile(sorted, 50), 2),
    disk_flush_max_ms: round(sorted.at(-1)!, 0),
    disk_flushes_over_50ms: stalled.length,
    disk_flush_stalled_pct: round((stalled.reduce((a, b) => a + b, 0) / elapsed) * 100, 1),
  };
}

/** Clock ticks per second of /proc's CPU times (read once, before anything is measured). */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface ProcessRow {
  pid: string;
  ppid: string;
  cmdline: string[];
  /** Clock ticks of the process itself (utime + stime). */
  ownTicks: number;
  /** Clock ticks of its children that exited and were waited for (cutime + cstime). */
  reapedTicks: number;
}

/**
 * Every process's CPU from /proc (Linux; empty elsewhere). Asynchronous reads: the benches call
 * it at the start of a measured window, where blocking the event loop for the few hundred files
 * would delay the work being measured.
 */
export async function processTable(): Promise<ProcessRow[]> {
  try {
    const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
    const rows = await Promise.all(
      pids.map(async (pid) => {
        try {
          const [cmdline, stat] = await Promise.all([
            readFile(`/proc/${pid}/cmdline`, 'utf8'),
            readFile(`/proc/${pid}/stat`, 'utf8'),
          ]);
          const fields = stat.replace(/^.*\) /, '').split(' ');
          return {
            pid,
            ppid: fields[1]!,
            cmdline: cmdline.split('\0'),
            ownTicks: Number(fields[11]) + Number(fields[12]),
            reapedTicks: Number(fields[13]) + Number(fields[14]),
          };
        } catch {
          return undefined;
        }
      }),
    );
    return rows.filter((p) => p !== undefined);
  } catch {
    return [];
  }
}

/**
 * CPU time (ms) of the process `root` and every descendant, living or exited (those exited are
 * counted once their parent waited for them): a server that forks per connection is one figure.
 * NaN when `root` is not running.
 */
export function processTreeCpuMs(table: ProcessRow[], root: string): number {
  if (!table.some((p) => p.pid === root)) return Number.NaN;
  const tree = new Set([root]);
  for (let grown = true; grown; ) {
    grown = false;
    for (const p of table) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grown = true;
      }
    }
  }
  const ticks = table.filter((p) => tree.has(p.pid)).reduce((sum, p) => sum + p.ownTicks + p.reapedTicks, 0);
  return (ticks / CLOCK_TICKS) * 1000;
}

/**
 * CPU time (ms) of the PostgreSQL server listening on the URL's port and its backends, from
 * /proc (Linux); NaN elsewhere or when the server is not a local process.
 */
export async function postgresCpuMs(url: string): Promise<number> {
  const port = new URL(url).port;
  const processes = await processTable();
  const postmaster = processes.find(
    (p) =>
      p.cmdline[0]?.endsWith('/postgres') &&
      p.cmdline.includes('-p') &&
      p.cmdline[p.cmdline.indexOf('-p') + 1] === port,
  );
  return postmaster ? processTreeCpuMs(processes, postmaster.pid) : Number.NaN;
}

/**
 * With BENCH_CPU_PROFILE=<file>, profiles this process's main thread until the returned stop()
 * and writes a .cpuprofile there (Chrome DevTools, speedscope): a bench's measured window alone,
 * without its setup. Without it, stop() does nothing.
 */
export async function startCpuProfile(): Promise<() => Promise<void>> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return async () => undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/**
 * Watches this process's event loop from now on: how late a 10 ms timer ran (the loop held by
 * work or by GC) and the garbage collector's pauses. The returned function stops and reports.
 */
export function watchEventLoop(): () => Record<string, number> {
  const resolutionMs = 10;
  const delay = monitorEventLoopDelay({ resolution: resolutionMs });
  delay.enable();
  const pauses: number[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push(entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  return () => {
    delay.disable();
    gc.disconnect();
    // The histogram holds whole timer intervals: what a timer ran late is the part beyond the resolution.
    const late = (ns: number) => round(Math.max(0, ns / 1e6 - resolutionMs), 1);
    return {
      loop_late_p99_ms: late(delay.percentile(99)),
      loop_late_max_ms: late(delay.max),
      gc_pauses: pauses.length,
      gc_pause_total_ms: round(
        pauses.reduce((a, b) => a + b, 0),
        1,
      ),
      gc_pause_max_ms: round(Math.max(0, ...pauses), 1),
    };
  };
}

/** Registers a user on a task-api at `url` and logs in (registering gives no token): the token. */
export async function signUpBenchUser(url: string, body: { email: string; password: string; name: string }) {
  const post = (path: string, json: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(json),
    });
  const registered = await post('/api/auth/register', body);
  if (registered.status !== 202)
    throw new Error(
      `registering a bench user at ${url} answered ${registered.status}: ${await registered.text()}`,
    );
  const login = await post('/api/auth/login', { email: body.email, password: body.password });
  if (login.status !== 200)
    throw new Error(`logging in a bench user at ${url} answered ${login.status}: ${await login.text()}`);
  return ((await login.json()) as { token: string }).token;
}

/** One request of a fixed-rate load: sent with the bearer token, the body as JSON. */
export interface RateRequest {
  method: string;
  path: string;
  token: string;
  body?: unknown;
}

export interface RateLoad {
  seconds: number;
  errors: number;
  errorKinds: Record<string, number>;
  latencies: number[];
  /** HTTP status by request index (0: no answer). */
  statuses: number[];
  /** When each request's answer had arrived, ms since the epoch, by request index. */
  answeredAt: number[];
}

/** Sends `requests` to `url` at `ratePerSecond` from a worker thread (rate-worker.mjs). */
export function runAtRate(url: string, requests: RateRequest[], ratePerSecond: number): Promise<RateLoad> {
  if (requests.length === 0) throw new Error('runAtRate: no requests');
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./rate-worker.mjs', import.meta.url), {
      workerData: { url, requests, ratePerSecond },
    });
    worker.once('message', (load: RateLoad) => {
      resolve(load);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/**
 * The local Dapr stack's settings when it is up (`scripts/stack/stack.sh up`), or why a bench
 * skips it: its env file outlives the stack, so its database must also answer.
 */
async function liveStack(): Promise<{ stack: StackEnv } | { skipped: string }> {
  let stack: StackEnv;
  try {
    stack = readStackEnv();
  } catch (err) {
    return { skipped: `skipped: ${(err as Error).message.split(':')[0]} (the local Dapr stack is not up)` };
  }
  const client = new pg.Client({ connectionString: stack.DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return { stack };
  } catch {
    return { skipped: 'skipped: the local Dapr stack is not running (scripts/stack/stack.sh up)' };
  } finally {
    await client.end().catch(() => undefined);
  }
}

type Figures = Record<string, unknown>;

/**
 * A bench's figures on the embedded runtime, then, when the local Dapr stack is up, its figures
 * there prefixed `dapr_` (or `dapr: skipped: …`). `runtimes` (a bench's *_RUNTIMES variable):
 * `embedded`, `dapr` or both (the default).
 */
export async function acrossRuntimes<E extends Figures, D extends Figures>(
  runtimes: string | undefined,
  embedded: () => Promise<E>,
  dapr: (stack: StackEnv) => Promise<D>,
): Promise<Figures> {
  const picked = (runtimes ?? 'embedded,dapr').split(',');
  const result: Figures = picked.includes('embedded') ? { ...(await embedded()) } : {};
  if (!picked.includes('dapr')) return result;
  const live = await liveStack();
  if ('skipped' in live) return { ...result, dapr: live.skipped };
  for (const [name, value] of Object.entries(await dapr(live.stack))) result[`dapr_${name}`] = value;
  return result;
}

/**
 * The base URL of one of the stack's apps, once it answers ready. Errors say what to start.
 */
export async function stackApp(stack: StackEnv, appId: string): Promise<string> {
  const url = stackAppUrls(stack)[appId];
  if (!url) throw new Error(`the stack runs no ${appId} (STACK_APPS in .stack/env)`);
  const ready = await fetch(`${url}/readyz`).then(
    (r) => r.status,
    () => 0,
  );
  if (ready !== 200) throw new Error(`the stack's ${appId} at ${url} is not ready (${ready || 'no answer'})`);
  return url;
}

/**
 * `count` new users' ids and tokens signed with the stack's own secret: registration is limited
 * per address (ADR 0015), and a bench needs more users than one address may register.
 */
export async function stackUsers(stack: StackEnv, count: number) {
  if (!stack.JWT_SECRET) throw new Error('the stack wrote no JWT_SECRET to .stack/env');
  const auth = createAuth({
    secret: stack.JWT_SECRET,
    issuer: 'taskstream',
    audience: 'taskstream',
    ttlSeconds: 3600,
  });
  const userIds = Array.from({ length: count }, () => randomUUID());
  const tokens = await Promise.all(userIds.map((userId) => auth.sign({ userId, role: 'user' })));
  return { userIds, tokens };
}

/** The stack's outbox rows of these users (partition keys) not yet published. */
export async function stackOutboxBacklog(pool: pg.Pool, userIds: string[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND partition_key = ANY($1::text[])',
    [userIds],
  );
  return rows[0]!.n;
}

/**
 * Waits until the stack has carried these users' events through: no outbox row of theirs
 * unpublished, and no lag on `consumers` (task-api reads every consumer group's lag from the
 * broker and exports it on /metrics). False when that did not happen within `timeoutMs`.
 */
export async function stackSettled(
  pool: pg.Pool,
  taskApiUrl: string,
  userIds: string[],
  consumers: string[],
  timeoutMs = 60_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const unpublished = await stackOutboxBacklog(pool, userIds);
    const metrics = await (await fetch(`${taskApiUrl}/metrics`)).text();
    const lag = metrics
      .split('\n')
      .filter((line) => line.startsWith('taskstream_consumer_lag{'))
      .filter((line) => consumers.includes(/consumer="([^"]*)"/.exec(line)?.[1] ?? ''))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    if (unpublished === 0 && lag === 0) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
