import { Worker } from 'node:worker_threads';
import { lagOf, outboxBacklog, startRuntime } from '@taskstream/platform';
import { nextOccurrence, validateRecurrenceForTask } from '@taskstream/recurrence';
import { createRecurringService, occurrenceTaskId } from '@taskstream/recurring';
import { createTaskApiService } from '@taskstream/task-api';
import {
  benchDatabase,
  benchEnv,
  percentile,
  postgresCpuMs,
  pressureSince,
  pressureTotals,
  round,
  signUpBenchUser,
  startCpuProfile,
} from './support.js';

const USERS = 20;
const ZONES = ['Europe/London', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'America/Sao_Paulo'];
const RULES = [
  'daily',
  'weekdays',
  'weekly:MO,WE',
  'monthly:-1',
  'FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1',
  'cron:0 9 * * 1-5',
];

/**
 * Sends POST /complete at a fixed rate (open loop) from a worker, so the server's event loop is
 * not the clock. node:http with kept-alive connections, as the task-api bench's load worker:
 * fetch costs several times the CPU per request, and the load shares the machine's cores.
 */
const LOAD_WORKER = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { url, jobs, ratePerSecond } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const started = performance.now();
let sent = 0, done = 0, errors = 0;
const errorKinds = {};
const fail = (kind) => { errors++; errorKinds[kind] = (errorKinds[kind] || 0) + 1; };
const latencies = [];
function fire(job) {
  const t0 = performance.now();
  const finished = () => { latencies.push(performance.now() - t0); if (++done === jobs.length) finish(); };
  const request = http.request(new URL('/api/tasks/' + job.id + '/complete', url), {
    method: 'POST', agent, headers: { authorization: 'Bearer ' + job.token, 'content-length': 0 },
  }, (res) => {
    if (res.statusCode !== 200) fail('http ' + res.statusCode);
    res.resume();
    res.on('end', finished);
    res.on('error', (err) => { fail(String(err.code || err.message)); finished(); });
  });
  request.on('error', (err) => { fail(String(err.code || err.message)); finished(); });
  request.end();
}
function finish() {
  parentPort.postMessage({ seconds: (performance.now() - started) / 1000, errors, errorKinds, latencies });
}
function tick() {
  const due = Math.min(jobs.length, Math.floor(((performance.now() - started) / 1000) * ratePerSecond) + 1);
  while (sent < due) fire(jobs[sent++]);
  if (sent < jobs.length) setTimeout(tick, 2);
}
tick();
`;

interface LoadResult {
  seconds: number;
  errors: number;
  errorKinds: Record<string, number>;
  latencies: number[];
}

/**
 * Completion → next occurrence committed, embedded, at a fixed completion rate: recurring tasks
 * (six rule kinds, five zones) are completed through task-api at `rate` per second; the latency
 * of each is the commit of the next task's creating transaction minus the commit of the
 * completing one (PostgreSQL's commit timestamps, which the bench's own server tracks; on a
 * DATABASE_URL server without `track_commit_timestamp` the two transactions' start times, which
 * leave out the create's commit). Also the engine's cost per call.
 */
export async function benchRecurring(
  options: { rate?: number; durationMs?: number; warmupMs?: number } = {},
) {
  const rate = options.rate ?? Number(process.env.BENCH_RECURRING_RATE ?? 200);
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const total = Math.round((rate * durationMs) / 1000);
  // Completions before the measured ones, at the same rate: the completion path (route, handler,
  // the next task's create) runs for the first time there, not in the measured window.
  const warmup = Math.round((rate * (options.warmupMs ?? 1000)) / 1000);
  const engine = engineCost();
  const database = await benchDatabase({ track_commit_timestamp: 'on' });
  const runtime = await startRuntime([createTaskApiService, createRecurringService], {
    env: benchEnv(database.url),
  });
  try {
    const post = async (path: string, body: unknown, token?: string) => {
      const res = await fetch(runtime.url + path, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ token: string; id: string }>;
    };
    const tokens: string[] = [];
    for (let i = 0; i < USERS; i++) {
      tokens.push(
        await signUpBenchUser(runtime.url, {
          email: `recurring-${Date.now()}-${i}@example.com`,
          password: 'bench-password',
          name: `R ${i}`,
        }),
      );
    }
    // The tasks to complete, made beforehand (16 at a time), interleaved across users.
    const allJobs: { id: string; token: string }[] = new Array(warmup + total);
    let made = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = made++; i < allJobs.length; i = made++) {
          const token = tokens[i % USERS]!;
          const task = await post(
            '/api/tasks',
            {
              title: `Recurring ${i}`,
              due_date: new Date(Date.now() + 86_400_000 + i * 60_000).toISOString(),
              time_zone: ZONES[i % ZONES.length],
              recurrence: { rule: RULES[i % RULES.length], anchor: i % 2 ? 'due' : 'completion' },
              reminders: [{ offset_minutes: 15, channels: ['in_app'] }],
            },
            token,
          );
          allJobs[i] = { id: task.id, token };
        }
      }),
    );
    // Let the events drain, through any outbox and every consumer, before a load: otherwise its
    // first completions queue behind them (each user's events are in order).
    const lag = lagOf(runtime.ports.bus);
    const settle = () =>
      waitFor(async () => {
        const waiting = await outboxBacklog(runtime.pool);
        const consumers = lag ? await lag() : [];
        return waiting === 0 && consumers.every((c) => c.lag === 0);
      }, 120_000);
    const runLoad = (jobs: { id: string; token: string }[]) =>
      new Promise<LoadResult>((resolve, reject) => {
        const worker = new Worker(LOAD_WORKER, {
          eval: true,
          workerData: { url: runtime.url, jobs, ratePerSecond: rate },
        });
        worker.once('message', (m) => {
          resolve(m);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
    await settle();
    if (warmup > 0) {
      await runLoad(allJobs.slice(0, warmup));
      await settle();
    }

    const jobs = allJobs.slice(warmup);
    const pressure = pressureTotals();
    const loadStarted = performance.now();
    const cpuAtLoad = { app: process.cpuUsage(), pg: await postgresCpuMs(database.url) };
    const stopProfile = await startCpuProfile();
    const load = await runLoad(jobs);

    const ids = jobs.map((j) => j.id);
    const nextIds = ids.map((id) => occurrenceTaskId(id, 2));
    const drained = await waitFor(async () => {
      const { rows } = await runtime.pool.query(
        `SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1::uuid[])`,
        [nextIds],
      );
      return rows[0].n === total;
    }, 120_000);
    // CPU per completion, both sides: steadier than latency on a shared machine, so changes to
    // the path show in it. The app's figure includes the load worker's requests.
    const appCpu = process.cpuUsage(cpuAtLoad.app);
    const pgCpuMs = (await postgresCpuMs(database.url)) - cpuAtLoad.pg;
    await stopProfile();
    const { rows: tracking } = await runtime.pool.query(
      `SELECT current_setting('track_commit_timestamp') = 'on' AS on`,
    );
    const commits = tracking[0].on as boolean;
    // Rows the bench does not touch again: xmin is still the creating (completing) transaction.
    const [nextAt, completedAt, publishedAt] = commits
      ? [
          'pg_xact_commit_timestamp(n.xmin)',
          'pg_xact_commit_timestamp(t.xmin)',
          'pg_xact_commit_timestamp(o.xmin)',
        ]
      : ['n.created_at', 't.completed_at', 'o.created_at'];
    const { rows } = await runtime.pool.query(
      `SELECT extract(epoch FROM (${nextAt} - ${completedAt})) * 1000 AS ms
       FROM unnest($1::uuid[], $2::uuid[]) AS p(task_id, next_id)
       JOIN tasks t ON t.id = p.task_id JOIN tasks n ON n.id = p.next_id`,
      [ids, nextIds],
    );
    const latencies = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    // Where the time goes: completion → its event in the event log (`relay`: the same
    // transaction since events are published in it, ADR 0016), and published → next occurrence
    // committed (consumer, invocation, create).
    const stages = await runtime.pool.query<{ relay_ms: number; consumer_ms: number }>(
      `SELECT extract(epoch FROM (${publishedAt} - ${completedAt})) * 1000 AS relay_ms,
         extract(epoch FROM (${nextAt} - ${publishedAt})) * 1000 AS consumer_ms
       FROM unnest($1::uuid[], $2::uuid[]) AS p(task_id, next_id)
       JOIN tasks t ON t.id = p.task_id JOIN tasks n ON n.id = p.next_id
       JOIN event_log o ON o.topic = 'task-events' AND o.event->>'subject' = p.task_id::text
         AND o.event->>'type' = 'com.taskstream.task.completed'`,
      [ids, nextIds],
    );
    const relay = stages.rows.map((r) => Number(r.relay_ms)).sort((a, b) => a - b);
    const consumer = stages.rows.map((r) => Number(r.consumer_ms)).sort((a, b) => a - b);
    const completes = load.latencies.sort((a, b) => a - b);
    const dead = await runtime.pool.query(
      `SELECT count(*)::int AS n FROM dead_letters WHERE consumer = 'recurring'`,
    );
    return {
      target_completions_per_s: rate,
      warmup_completions: warmup,
      completions: total,
      achieved_completions_per_s: round(total / load.seconds),
      complete_errors: load.errors,
      ...(load.errors ? { complete_error_kinds: JSON.stringify(load.errorKinds) } : {}),
      completed: ids.length,
      next_tasks_created: latencies.length,
      every_completed_task_has_its_next: drained,
      next_measured_between: commits ? 'commits' : 'transaction starts',
      next_p50_ms: round(percentile(latencies, 50), 1),
      next_p95_ms: round(percentile(latencies, 95), 1),
      next_p99_ms: round(percentile(latencies, 99), 1),
      next_max_ms: round(latencies.at(-1) ?? Number.NaN, 1),
      complete_http_p99_ms: round(percentile(completes, 99), 1),
      relay_p50_ms: round(percentile(relay, 50), 1),
      relay_p99_ms: round(percentile(relay, 99), 1),
      consumer_p50_ms: round(percentile(consumer, 50), 1),
      consumer_p99_ms: round(percentile(consumer, 99), 1),
      dead_letters: dead.rows[0].n as number,
      app_cpu_us_per_completion: round((appCpu.user + appCpu.system) / total, 0),
      postgres_cpu_us_per_completion: round((pgCpuMs * 1000) / total, 0),
      ...pressureSince(pressure, performance.now() - loadStarted),
      ...engine,
    };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

async function waitFor(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Microseconds per engine call (pure CPU), over the bench's rule kinds and zones. */
function engineCost(): Record<string, number> {
  const n = 600;
  const run = (fn: (i: number) => void) => {
    for (let i = 0; i < 50; i++) fn(i);
    const t = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return round(((performance.now() - t) * 1000) / n, 0);
  };
  const due = '2026-03-27T09:00:00Z';
  return {
    engine_next_occurrence_us: run((i) =>
      nextOccurrence({
        recurrence: { rule: RULES[i % RULES.length]! },
        dueDate: due,
        completedAt: due,
        timeZone: ZONES[i % ZONES.length]!,
        occurrence: 1,
      }),
    ),
    engine_validate_us: run((i) =>
      validateRecurrenceForTask({
        recurrence: { rule: RULES[i % RULES.length]! },
        due_date: due,
        time_zone: ZONES[i % ZONES.length]!,
        occurrence: 1,
      }),
    ),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchRecurring(), null, 2));
  process.exit(0);
}
