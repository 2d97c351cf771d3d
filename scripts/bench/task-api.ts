import { Worker } from 'node:worker_threads';
import { allServices } from '@taskstream/host';
import { outboxBacklog, startRuntime } from '@taskstream/platform';
import { createTaskApiService } from '@taskstream/task-api';
import pg from 'pg';
import {
  benchDatabase,
  benchEnv,
  CLOCK_TICKS,
  percentile,
  postgresCpuMs,
  round,
  signUpBenchUser,
  startCpuProfile,
} from './support.js';

export const CLIENTS = 64;

interface LoadResult {
  latencies: number[];
  errors: number;
  completed: number;
  seconds: number;
  cpuTicks?: number;
}

export interface CreateLoad {
  clients: number;
  duration_s: number;
  creates_per_s: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  errors: number;
  /** CPU the load generator's own thread used (warm-up included); NaN where /proc is not there. */
  load_generator_cpu_ms: number;
}

/** Registers `count` users on a task-api at `url`; their tokens, one client each. */
export async function registerUsers(url: string, count = CLIENTS): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(
      await signUpBenchUser(url, {
        email: `bench-${Date.now()}-${i}@example.com`,
        password: 'bench-password',
        name: `Bench ${i}`,
      }),
    );
  }
  return tokens;
}

/**
 * One client per token creating tasks back to back on `url` (POST /api/tasks) from a worker
 * thread, so the load generator does not share the event loop of a server it measures.
 */
export async function runCreateLoad(
  url: string,
  tokens: string[],
  options: { durationMs?: number; warmupMs?: number; transfers?: { from: string; to: string }[] } = {},
): Promise<CreateLoad> {
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const warmupMs = options.warmupMs ?? 2000;
  const load = await new Promise<LoadResult>((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), {
      workerData: { url, tokens, warmupMs, durationMs, transfers: options.transfers },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const sorted = load.latencies.sort((a, b) => a - b);
  return {
    clients: tokens.length,
    duration_s: load.seconds,
    creates_per_s: round(load.completed / load.seconds),
    p50_ms: round(percentile(sorted, 50), 2),
    p95_ms: round(percentile(sorted, 95), 2),
    p99_ms: round(percentile(sorted, 99), 2),
    errors: load.errors,
    load_generator_cpu_ms:
      load.cpuTicks === undefined ? Number.NaN : round((load.cpuTicks / CLOCK_TICKS) * 1000, 0),
  };
}

/**
 * Task-create throughput and latency at 64 concurrent clients against task-api on the embedded
 * runtime, beside the raw PostgreSQL insert rate of the same database in the same run (the
 * ceiling). `services: 'all'` runs the whole embedded host instead (what `npm start` runs): every
 * consumer of the events shares the process and the database with the API being measured.
 */
export async function benchTaskApi(
  options: { durationMs?: number; warmupMs?: number; services?: 'task-api' | 'all' } = {},
) {
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const warmupMs = options.warmupMs ?? 2000;
  const database = await benchDatabase();
  const runtime = await startRuntime(options.services === 'all' ? allServices : [createTaskApiService], {
    env: benchEnv(database.url),
  });
  try {
    const tokens = await registerUsers(runtime.url);
    const countTasks = async () =>
      (await runtime.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n as number;
    const before = {
      tasks: await countTasks(),
      app: process.cpuUsage(),
      pg: await postgresCpuMs(database.url),
    };
    const stopProfile = await startCpuProfile();
    const load = await runCreateLoad(runtime.url, tokens, { durationMs, warmupMs });
    await stopProfile();
    // CPU per create over the whole load (warm-up included), both sides: steadier than latency
    // on a shared machine. The process's figure includes the load worker's requests; the
    // server's own is the process's less the load worker thread's.
    const app = process.cpuUsage(before.app);
    const appUs = app.user + app.system;
    const serverUs = appUs - load.load_generator_cpu_ms * 1000;
    const pgMs = (await postgresCpuMs(database.url)) - before.pg;
    const created = Math.max(1, (await countTasks()) - before.tasks);
    const backlog = await outboxBacklog(runtime.pool);
    const ceiling = await rawInsertRate(database.url, durationMs);
    return {
      services: options.services ?? 'task-api',
      ...load,
      outbox_backlog_at_end: backlog,
      app_cpu_us_per_create: round(appUs / created, 0),
      server_cpu_us_per_create: Number.isFinite(serverUs) ? round(serverUs / created, 0) : 'n/a',
      postgres_cpu_us_per_create: Number.isFinite(pgMs) ? round((pgMs * 1000) / created, 0) : 'n/a',
      raw_insert_per_s: round(ceiling),
      share_of_ceiling: round(load.creates_per_s / ceiling, 3),
    };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

/**
 * 64 connections inserting rows shaped like `table`'s one autocommit statement at a time (the
 * default: tasks); `insert` is the statement into bench_raw.
 */
export async function rawInsertRate(
  url: string,
  durationMs: number,
  table = 'tasks',
  insert = `INSERT INTO bench_raw (id, user_id, title, status, priority, time_zone, created_at, updated_at)
           VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'pending', 'medium', 'UTC', now(), now())`,
): Promise<number> {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query(
    `DROP TABLE IF EXISTS bench_raw; CREATE TABLE bench_raw (LIKE ${table} INCLUDING DEFAULTS)`,
  );
  await setup.end();
  const end = performance.now() + durationMs;
  let count = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      while (performance.now() < end) {
        await client.query(insert, [`raw ${i}`]);
        count++;
      }
      await client.end();
    }),
  );
  return count / (durationMs / 1000);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchTaskApi(), null, 2));
}
