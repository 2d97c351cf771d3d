import { lagOf, outboxBacklog, startRuntime } from '@taskstream/platform';
import { nextOccurrence, validateRecurrenceForTask } from '@taskstream/recurrence';
import { createRecurringService, occurrenceTaskId } from '@taskstream/recurring';
import { createTaskApiService } from '@taskstream/task-api';
import pg from 'pg';
import type { StackEnv } from '../stack/sidecar.js';
import {
  acrossRuntimes,
  benchDatabase,
  benchEnv,
  percentile,
  postgresCpuMs,
  pressureSince,
  pressureTotals,
  round,
  runAtRate,
  signUpBenchUser,
  stackApp,
  stackSettled,
  stackUsers,
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

interface RecurringOptions {
  rate?: number;
  durationMs?: number;
  warmupMs?: number;
}

/** Where the completions go: a runtime's task-api and its database. */
interface CompletionTarget {
  url: string;
  pool: pg.Pool;
  tokens: string[];
  /** Waits until the events so far have gone through the consumers. */
  settle(): Promise<unknown>;
  /**
   * Where a completion's task.completed event was published: the embedded event log (in the
   * completion's transaction), or the Dapr outbox (published once Kafka acknowledged it).
   */
  published: 'event_log' | 'outbox';
  /** Starts measuring the load's cost; the returned function stops and reports it per completion. */
  meter(completions: number): Promise<() => Promise<Record<string, number>>>;
}

/**
 * Completion → next occurrence committed, at a fixed completion rate: recurring tasks (six rule
 * kinds, five zones) are completed through task-api at `rate` per second; the latency of each is
 * the commit of the next task's creating transaction minus the commit of the completing one
 * (PostgreSQL's commit timestamps, which the embedded bench's own server tracks; on a server
 * without `track_commit_timestamp` the two transactions' start times, which leave out the
 * create's commit). Embedded (with the engine's cost per call), and through the local Dapr stack
 * when it is up (`dapr_` figures: its task-api's outbox, daprd and Kafka, the recurring app, and
 * the invocation of task-api that creates the next task); BENCH_RECURRING_RUNTIMES picks one.
 */
export function benchRecurring(options: RecurringOptions = {}) {
  return acrossRuntimes(
    process.env.BENCH_RECURRING_RUNTIMES,
    () => benchEmbedded(options),
    (stack) => benchDapr(stack, options),
  );
}

async function benchEmbedded(options: RecurringOptions) {
  const engine = engineCost();
  const database = await benchDatabase({ track_commit_timestamp: 'on' });
  const runtime = await startRuntime([createTaskApiService, createRecurringService], {
    env: benchEnv(database.url),
  });
  try {
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
    const lag = lagOf(runtime.ports.bus);
    const figures = await measureCompletions(
      {
        url: runtime.url,
        pool: runtime.pool,
        tokens,
        settle: () =>
          waitFor(async () => {
            const waiting = await outboxBacklog(runtime.pool);
            const consumers = lag ? await lag() : [];
            return waiting === 0 && consumers.every((c) => c.lag === 0);
          }, 120_000),
        published: 'event_log',
        async meter(completions) {
          const at = { app: process.cpuUsage(), pg: await postgresCpuMs(database.url) };
          const stopProfile = await startCpuProfile();
          return async () => {
            // Steadier than latency on a shared machine, so changes to the path show in it. The
            // app's figure includes the load worker's requests.
            const app = process.cpuUsage(at.app);
            const pgMs = (await postgresCpuMs(database.url)) - at.pg;
            await stopProfile();
            return {
              app_cpu_us_per_completion: round((app.user + app.system) / completions, 0),
              postgres_cpu_us_per_completion: round((pgMs * 1000) / completions, 0),
            };
          };
        },
      },
      options,
    );
    return { ...figures, ...engine };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

/**
 * The same completions through the local Dapr stack's task-api, by users whose tokens are signed
 * with the stack's secret. Its PostgreSQL serves every app of the stack: its CPU per completion
 * is the whole path's database work.
 */
async function benchDapr(stack: StackEnv, options: RecurringOptions) {
  const url = await stackApp(stack, 'task-api');
  const { userIds, tokens } = await stackUsers(stack, USERS);
  const pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 2 });
  try {
    return await measureCompletions(
      {
        url,
        pool,
        tokens,
        settle: () => stackSettled(pool, url, userIds, ['recurring', 'notification']),
        published: 'outbox',
        async meter(completions) {
          const at = await postgresCpuMs(stack.DATABASE_URL);
          return async () => ({
            postgres_cpu_us_per_completion: round(
              ((await postgresCpuMs(stack.DATABASE_URL)) - at) * (1000 / completions),
              0,
            ),
          });
        },
      },
      // The Dapr runtime's target is half the embedded rate (issue 25): 100 completions a second.
      { ...options, rate: options.rate ?? Number(process.env.BENCH_RECURRING_DAPR_RATE ?? 100) },
    );
  } finally {
    await pool.end();
  }
}

async function measureCompletions(target: CompletionTarget, options: RecurringOptions) {
  const rate = options.rate ?? Number(process.env.BENCH_RECURRING_RATE ?? 200);
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const total = Math.round((rate * durationMs) / 1000);
  // Completions before the measured ones, at the same rate: the completion path (route, handler,
  // the next task's create) runs for the first time there, not in the measured window.
  const warmup = Math.round((rate * (options.warmupMs ?? 1000)) / 1000);
  const { url, pool, tokens } = target;
  const post = async (path: string, body: unknown, token: string) => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ id: string }>;
  };
  // The tasks to complete, made beforehand (16 at a time), interleaved across users.
  const allJobs: { id: string; token: string }[] = new Array(warmup + total);
  let made = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = made++; i < allJobs.length; i = made++) {
        const token = tokens[i % tokens.length]!;
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
  const completing = (jobs: { id: string; token: string }[]) =>
    runAtRate(
      url,
      jobs.map(({ id, token }) => ({ method: 'POST', path: `/api/tasks/${id}/complete`, token })),
      rate,
    );
  // Let the events drain, through any outbox and every consumer, before a load: otherwise its
  // first completions queue behind them (each user's events are in order).
  await target.settle();
  if (warmup > 0) {
    await completing(allJobs.slice(0, warmup));
    await target.settle();
  }

  const jobs = allJobs.slice(warmup);
  const pressure = pressureTotals();
  const loadStarted = performance.now();
  const stopMeter = await target.meter(total);
  const load = await completing(jobs);

  const ids = jobs.map((j) => j.id);
  const nextIds = ids.map((id) => occurrenceTaskId(id, 2));
  const drained = await waitFor(async () => {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1::uuid[])`, [
      nextIds,
    ]);
    return rows[0].n === total;
  }, 120_000);
  const cost = await stopMeter();
  const { rows: tracking } = await pool.query(
    `SELECT current_setting('track_commit_timestamp') = 'on' AS on`,
  );
  const commits = tracking[0].on as boolean;
  // Rows the bench does not touch again: xmin is still the creating (completing) transaction.
  const [nextAt, completedAt] = commits
    ? ['pg_xact_commit_timestamp(n.xmin)', 'pg_xact_commit_timestamp(t.xmin)']
    : ['n.created_at', 't.completed_at'];
  const publishedAt =
    target.published === 'outbox'
      ? 'o.published_at'
      : commits
        ? 'pg_xact_commit_timestamp(o.xmin)'
        : 'o.created_at';
  const { rows } = await pool.query(
    `SELECT extract(epoch FROM (${nextAt} - ${completedAt})) * 1000 AS ms
     FROM unnest($1::uuid[], $2::uuid[]) AS p(task_id, next_id)
     JOIN tasks t ON t.id = p.task_id JOIN tasks n ON n.id = p.next_id`,
    [ids, nextIds],
  );
  const latencies = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  // Where the time goes: completion → its event published (`relay`: embedded, the same
  // transaction, ADR 0016; Dapr, the outbox relay until Kafka acknowledged it), and published →
  // next occurrence committed (consumer, invocation, create).
  const stages = await pool.query<{ relay_ms: number; consumer_ms: number }>(
    `SELECT extract(epoch FROM (${publishedAt} - ${completedAt})) * 1000 AS relay_ms,
       extract(epoch FROM (${nextAt} - ${publishedAt})) * 1000 AS consumer_ms
     FROM unnest($1::uuid[], $2::uuid[]) AS p(task_id, next_id)
     JOIN tasks t ON t.id = p.task_id JOIN tasks n ON n.id = p.next_id
     JOIN ${target.published} o ON o.topic = 'task-events' AND o.event->>'subject' = p.task_id::text
       AND o.event->>'type' = 'com.taskstream.task.completed'`,
    [ids, nextIds],
  );
  const relay = stages.rows.map((r) => Number(r.relay_ms)).sort((a, b) => a - b);
  const consumer = stages.rows.map((r) => Number(r.consumer_ms)).sort((a, b) => a - b);
  const completes = load.latencies.sort((a, b) => a - b);
  const dead = await pool.query(
    `SELECT count(*)::int AS n FROM dead_letters WHERE consumer = 'recurring' AND event->>'subject' = ANY($1::text[])`,
    [ids],
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
    ...cost,
    ...pressureSince(pressure, performance.now() - loadStarted),
  };
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
