import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createAuditService, fetchPage, selectionOf } from '@taskstream/audit';
import { Topics } from '@taskstream/contracts';
import {
  type Envelope,
  type OutgoingMessage,
  type Pool,
  type RunningRuntime,
  type ServiceFactory,
  startRuntime,
} from '@taskstream/platform';
import { sampleTask, taskEvent } from '@taskstream/platform/test-support';
import { createTaskApiService } from '@taskstream/task-api';
import { benchDatabase, benchEnv, percentile, round, signUpBenchUser } from './support.js';

/** As many clients as the task-api bench. */
const CLIENTS = 64;

interface AuditBenchOptions {
  /** How long the task-api load (as in its own bench) runs. */
  durationMs?: number;
  /** Events of the burst (published at once, then drained). */
  burst?: number;
  /** Events per second of the paced run, and how long it lasts. */
  rate?: number;
  paceSeconds?: number;
  /** Rows bulk-loaded for the query bench. */
  rows?: number;
  users?: number;
  queries?: number;
}

/**
 * Ingestion into audit_logs — beside the task-api bench's load (what task-api publishes), as a
 * burst published on the bus at once, and as a steady stream; each with the lag from event time
 * to row — then the latency of `GET /api/audit-logs` with a user and a date filter over a
 * million bulk-loaded rows.
 */
export async function benchAudit(options: AuditBenchOptions = {}) {
  const env = process.env;
  const burst = options.burst ?? Number(env.AUDIT_BENCH_BURST ?? 5000);
  const rate = options.rate ?? Number(env.AUDIT_BENCH_RATE ?? 250);
  const paceSeconds = options.paceSeconds ?? Number(env.AUDIT_BENCH_PACE_SECONDS ?? 10);
  const rows = options.rows ?? Number(env.AUDIT_BENCH_ROWS ?? 1_000_000);
  const users = options.users ?? Number(env.AUDIT_BENCH_USERS ?? 1000);
  const queries = options.queries ?? Number(env.AUDIT_BENCH_QUERIES ?? 300);
  const durationMs = options.durationMs ?? Number(env.BENCH_DURATION_MS ?? 10000);

  const database = await benchDatabase();
  const baseline = baselineConsumer();
  const runtime = await startRuntime([createTaskApiService, createAuditService, baseline.factory], {
    env: benchEnv(database.url, {
      DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-audit-')),
    }),
  });
  try {
    const withTaskApi = await ingestBesideTaskApi(runtime, durationMs, baseline.handledAt);
    const burstResult = await ingestBurst(runtime, burst);
    const paced = await ingestPaced(runtime, rate, paceSeconds);
    const query = await queryBench(runtime, rows, users, queries);
    return { ...withTaskApi, ...burstResult, ...paced, ...query };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

/**
 * The task-api bench's load (64 clients creating tasks back to back, in a worker thread) with
 * the audit service consuming what task-api publishes: how far the audit trail trails behind.
 */
async function ingestBesideTaskApi(
  runtime: RunningRuntime,
  durationMs: number,
  baselineAt: Map<string, number>,
) {
  const tokens: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    tokens.push(
      await signUpBenchUser(runtime.url, {
        email: `audit-bench-${Date.now()}-${i}@example.com`,
        password: 'bench-password',
        name: `Bench ${i}`,
      }),
    );
  }
  const load = await new Promise<{ completed: number; seconds: number; errors: number }>(
    (resolve, reject) => {
      const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), {
        workerData: { url: runtime.url, tokens, warmupMs: 1000, durationMs },
      });
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  const loadEnded = performance.now();
  const created = (await runtime.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n as number;
  const audited = async () =>
    (await runtime.pool.query(`SELECT count(*)::int AS n FROM audit_logs WHERE action = 'task.created'`))
      .rows[0].n as number;
  const backlogAtEnd = created - (await audited());
  // Of those, published on task-events already (the embedded bus's log): the audit consumer's own
  // backlog. One statement, so both counts come from the same snapshot.
  const consumerBacklogAtEnd = (
    await runtime.pool.query(
      `SELECT ((SELECT count(*) FROM event_log WHERE topic = 'task-events')
            - (SELECT count(*) FROM audit_logs WHERE action = 'task.created'))::int AS n`,
    )
  ).rows[0].n as number;
  const deadline = Date.now() + 300_000;
  while ((await audited()) < created) {
    if (Date.now() > deadline)
      throw new Error('the audit trail did not catch up with task-api within 5 minutes');
    await new Promise((r) => setTimeout(r, 20));
  }
  const { rows } = await runtime.pool.query(
    `SELECT extract(epoch FROM recorded_at - time) * 1000 AS ms FROM audit_logs WHERE action = 'task.created'`,
  );
  const lag = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  // From publication on the bus (the embedded bus's log stamps it) to the audit row: the consumer's share.
  const fromBus = await runtime.pool.query(
    `SELECT extract(epoch FROM a.recorded_at - e.created_at) * 1000 AS ms
     FROM audit_logs a JOIN event_log e ON e.topic = 'task-events' AND e.event_id = a.event_id::text
     WHERE a.action = 'task.created'`,
  );
  const consumerLag = fromBus.rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  // Against a consumer that does nothing, on the same bus at the same time: what the audit adds.
  const written = await runtime.pool.query(
    `SELECT event_id::text AS id, extract(epoch FROM recorded_at) * 1000 AS at FROM audit_logs WHERE action = 'task.created'`,
  );
  const overBaseline = written.rows
    .filter((r) => baselineAt.has(r.id))
    .map((r) => Number(r.at) - baselineAt.get(r.id)!)
    .sort((a, b) => a - b);
  return {
    task_api_creates_per_s: round(load.completed / load.seconds),
    task_api_errors: load.errors,
    audit_rows: created,
    audit_backlog_at_load_end: backlogAtEnd,
    audit_consumer_backlog_at_load_end: consumerBacklogAtEnd,
    audit_caught_up_after_load_s: round((performance.now() - loadEnded) / 1000, 2),
    audit_lag_p50_ms: round(percentile(lag, 50)),
    audit_lag_p99_ms: round(percentile(lag, 99)),
    audit_lag_max_ms: round(lag[lag.length - 1] ?? 0),
    audit_lag_from_bus_p50_ms: round(percentile(consumerLag, 50)),
    audit_lag_from_bus_p99_ms: round(percentile(consumerLag, 99)),
    audit_lag_over_noop_consumer_p50_ms: round(percentile(overBaseline, 50)),
    audit_lag_over_noop_consumer_p99_ms: round(percentile(overBaseline, 99)),
  };
}

/** A consumer of task-events that only notes when each event reached it: the bus's own lag. */
function baselineConsumer() {
  const handledAt = new Map<string, number>();
  const factory: ServiceFactory = () => ({
    name: 'audit',
    subscriptions: [
      {
        topic: Topics.taskEvents,
        consumer: 'bench-baseline',
        handler: async (e: Envelope) => {
          if (!handledAt.has(e.id)) handledAt.set(e.id, Date.now());
          return 'SUCCESS' as const;
        },
      },
    ],
  });
  return { factory, handledAt };
}

/** A task event of one of `userIds`, stamped now (its time is when it was published). */
function event(userId: string, sequence: number): Envelope {
  const taskId = randomUUID();
  const now = new Date().toISOString();
  const task = sampleTask(userId, {
    id: taskId,
    title: `Bench task ${sequence}`,
    tags: ['bench'],
    version: 2,
    created_at: now,
    updated_at: now,
  });
  return taskEvent('updated', task, {
    sequence,
    changes: { priority: { before: 'low', after: 'medium' } },
  });
}

const message = (e: Envelope): OutgoingMessage => ({
  topic: Topics.taskEvents,
  partitionKey: (e.data as { user_id: string }).user_id,
  event: e,
});

async function count(runtime: RunningRuntime): Promise<number> {
  return (await runtime.pool.query('SELECT count(*)::int AS n FROM audit_logs')).rows[0].n;
}

/** The newest chain position: rows after it are the ones a phase writes. */
async function lastId(runtime: RunningRuntime): Promise<number> {
  return (await runtime.pool.query('SELECT last_id FROM audit_chain_head')).rows[0].last_id;
}

async function waitForRows(runtime: RunningRuntime, n: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while ((await count(runtime)) < n) {
    if (Date.now() > deadline) throw new Error(`audit rows did not reach ${n} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lag of the rows written after `fromId`: from event time to when the row was written. */
async function lagSince(runtime: RunningRuntime, fromId: number) {
  const { rows } = await runtime.pool.query(
    `SELECT extract(epoch FROM recorded_at - time) * 1000 AS ms FROM audit_logs WHERE id > $1`,
    [fromId],
  );
  return rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
}

async function ingestBurst(runtime: RunningRuntime, n: number) {
  const [fromId, before] = [await lastId(runtime), await count(runtime)];
  const userIds = Array.from({ length: 50 }, () => randomUUID());
  const events = Array.from({ length: n }, (_, i) => event(userIds[i % userIds.length]!, i + 1));
  const started = performance.now();
  for (let i = 0; i < events.length; i += 500)
    await runtime.ports.bus.publish(events.slice(i, i + 500).map(message));
  await waitForRows(runtime, before + n, 600_000);
  const seconds = (performance.now() - started) / 1000;
  const lag = await lagSince(runtime, fromId);
  return {
    burst_events: n,
    burst_events_per_s: round(n / seconds),
    burst_drain_s: round(seconds, 2),
    burst_lag_max_ms: round(lag[lag.length - 1] ?? 0),
  };
}

/** Publishes at a steady rate in 100 ms ticks, like task-api's relay; reports how far ingestion trails. */
async function ingestPaced(runtime: RunningRuntime, rate: number, seconds: number) {
  const [fromId, before] = [await lastId(runtime), await count(runtime)];
  const userIds = Array.from({ length: 64 }, () => randomUUID());
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let sent = 0;
  let maxBacklog = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    if (due > sent) {
      const batch = Array.from({ length: due - sent }, (_, i) =>
        event(userIds[(sent + i) % userIds.length]!, sent + i + 1),
      );
      await runtime.ports.bus.publish(batch.map(message));
      sent = due;
      maxBacklog = Math.max(maxBacklog, before + sent - (await count(runtime)));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitForRows(runtime, before + total, 120_000);
  const lag = await lagSince(runtime, fromId);
  return {
    paced_rate_per_s: rate,
    paced_events: total,
    paced_lag_p50_ms: round(percentile(lag, 50)),
    paced_lag_p99_ms: round(percentile(lag, 99)),
    paced_lag_max_ms: round(lag[lag.length - 1] ?? 0),
    paced_backlog_max_events: maxBacklog,
  };
}

/** Version-4 UUIDs (the API checks version and variant) derived from a name, in SQL. */
const sqlUuid = (name: string) =>
  `overlay(overlay(md5(${name}) placing '4' from 13) placing '8' from 17)::uuid`;

/**
 * Bulk-loads `rows` rows with generate_series, spread over `users` users and the last 80 days
 * (three or four monthly partitions), five events per task. The rows are not chained (hash and
 * prev_hash are filler): this is for measuring reads. Returns the users' ids.
 */
export async function bulkLoadAuditRows(pool: Pool, rows: number, users: number): Promise<string[]> {
  const spanSeconds = 80 * 86400;
  for (let days = 0; days <= 80; days += 10)
    await pool.query(`SELECT audit_ensure_partition(now() - make_interval(days => $1))`, [days]);
  await pool.query('SELECT audit_ensure_partition(now())');
  const head = (await pool.query('SELECT last_id FROM audit_chain_head')).rows[0].last_id as number;
  const chunk = 100_000;
  for (let from = 1; from <= rows; from += chunk) {
    const to = Math.min(rows, from + chunk - 1);
    await pool.query(
      `INSERT INTO audit_logs (id, event_id, time, actor, action, task_id, changes, trace_id, source, payload, prev_hash, hash)
       SELECT $1 + g, gen_random_uuid(), now() - make_interval(secs => (g * 7919) % $4),
         ${sqlUuid(`'bench-user-' || (g % $5)`)},
         (ARRAY['task.created','task.updated','task.completed','task.reopened','task.deleted'])[1 + g % 5],
         ${sqlUuid(`'bench-task-' || (g / 5)`)},
         jsonb_build_object('priority', jsonb_build_object('before', 'low', 'after', 'high')),
         md5(g::text), '/taskstream/task-api',
         jsonb_build_object('task', jsonb_build_object('title', 'Bulk task ' || (g / 5), 'description', 'row ' || g, 'tags', jsonb_build_array('bulk'))),
         md5(g::text) || md5(g::text), md5((g + 1)::text) || md5((g + 1)::text)
       FROM generate_series($2::bigint, $3::bigint) g`,
      [head, from, to, spanSeconds, users],
    );
  }
  await pool.query('UPDATE audit_chain_head SET last_id = (SELECT max(id) FROM audit_logs)');
  await pool.query('VACUUM ANALYZE audit_logs');
  const { rows: ids } = await pool.query(
    `SELECT ${sqlUuid(`'bench-user-' || n`)}::text AS id FROM generate_series(0, $1 - 1) n`,
    [users],
  );
  return ids.map((r) => r.id as string);
}

async function queryBench(runtime: RunningRuntime, rows: number, users: number, queries: number) {
  const loadStarted = performance.now();
  const ids = await bulkLoadAuditRows(runtime.pool, rows, users);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  return {
    query_rows: await count(runtime),
    query_bulk_load_s: round(loadSeconds),
    ...(await timeQueries(runtime, ids, queries)),
  };
}

/**
 * Times `GET /api/audit-logs` with a user and a 30-day window, as the user and as an admin
 * filtering by the user, the same query in process (no HTTP), and a free-text search within a
 * user's rows (one client, one request at a time).
 */
export async function timeQueries(runtime: RunningRuntime, ids: string[], queries: number) {
  const admin = await runtime.auth.sign({ userId: randomUUID(), role: 'admin' });
  const tokens = new Map<string, string>();
  for (const id of ids.slice(0, 50)) tokens.set(id, await runtime.auth.sign({ userId: id, role: 'user' }));

  async function timed(pathAndQuery: string, token: string): Promise<[number, number]> {
    const started = performance.now();
    const res = await fetch(`${runtime.url}${pathAndQuery}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { items: unknown[] };
    if (res.status !== 200) throw new Error(`GET ${pathAndQuery}: ${res.status} ${JSON.stringify(body)}`);
    return [performance.now() - started, body.items.length];
  }
  const window = () => {
    const end = Date.now() - Math.floor(Math.random() * 50) * 86_400_000;
    return {
      start_date: new Date(end - 30 * 86_400_000).toISOString(),
      end_date: new Date(end).toISOString(),
    };
  };
  const query = (filters: Record<string, string>) => new URLSearchParams(filters).toString();

  const userTimes: number[] = [];
  const adminTimes: number[] = [];
  const searchTimes: number[] = [];
  const inProcessTimes: number[] = [];
  let returned = 0;
  const userIds = [...tokens.keys()];
  for (let i = 0; i < 20; i++)
    await timed(`/api/audit-logs?${query(window())}`, tokens.get(userIds[i % userIds.length]!)!); // warm-up
  for (let i = 0; i < queries; i++) {
    const user = userIds[i % userIds.length]!;
    const [ms, n] = await timed(`/api/audit-logs?${query(window())}`, tokens.get(user)!);
    userTimes.push(ms);
    returned += n;
    adminTimes.push(
      (
        await timed(`/api/audit-logs?${query({ user_id: ids[(i * 37) % ids.length]!, ...window() })}`, admin)
      )[0],
    );
    // The same query without HTTP: the service's query function on its pool.
    const started = performance.now();
    await fetchPage(runtime.pool, selectionOf({ userId: user, role: 'user' }, window()), undefined, 50);
    inProcessTimes.push(performance.now() - started);
    if (i < 100)
      searchTimes.push(
        (await timed(`/api/audit-logs?${query({ user_id: user, q: `bulk ${i}`, ...window() })}`, admin))[0],
      );
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const [u, a, s, d] = [sorted(userTimes), sorted(adminTimes), sorted(searchTimes), sorted(inProcessTimes)];
  return {
    query_count: queries,
    query_avg_items: round(returned / queries),
    query_user_p50_ms: round(percentile(u, 50), 2),
    query_user_p99_ms: round(percentile(u, 99), 2),
    query_admin_user_filter_p50_ms: round(percentile(a, 50), 2),
    query_admin_user_filter_p99_ms: round(percentile(a, 99), 2),
    query_in_process_p50_ms: round(percentile(d, 50), 2),
    query_in_process_p99_ms: round(percentile(d, 99), 2),
    query_search_p50_ms: round(percentile(s, 50), 2),
    query_search_p99_ms: round(percentile(s, 99), 2),
    // The machine's load while the queries ran (p99 on a shared machine includes its waits).
    query_load_average_1m: round(os.loadavg()[0]!, 2),
    cpus: os.cpus().length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchAudit(), null, 2));
  process.exit(0);
}
