/**
 * Sync fan-out under load: N WebSocket connections (one user each) on one server process, every
 * user gets one update a second; measures commit (the publish transaction has committed) →
 * the client has the frame, and the server's memory.
 *
 *   npx tsx scripts/bench/sync.ts            # 5,000 connections, 20 s measured
 *   SYNC_BENCH_CONNECTIONS=1000 SYNC_BENCH_SECONDS=10 npx tsx scripts/bench/sync.ts
 *
 * The clients run in a child process (raised file limit), so their work does not sit on the
 * server's event loop; both read the same clock (performance.timeOrigin + now()).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Topics } from '@taskstream/contracts';
import { type RunningRuntime, startRuntime } from '@taskstream/platform';
import { syncService } from '@taskstream/sync';
import { onTaskUpdates, taskEvent } from '@taskstream/sync/test-support';
import pg from 'pg';
import WebSocket from 'ws';
import type { StackEnv } from '../stack/sidecar.js';
import {
  acrossRuntimes,
  benchDatabase,
  benchEnv,
  percentile,
  postgresCpuMs,
  round,
  runAtRate,
  stackApp,
  stackSettled,
  stackUsers,
  startCpuProfile,
  watchEventLoop,
} from './support.js';

const SELF = fileURLToPath(import.meta.url);
const CLIENT_FLAG = '--sync-bench-clients';
const SERVER_FLAG = '--sync-bench-server';
const PUBLISHER_FLAG = '--sync-bench-publisher';
const now = () => performance.timeOrigin + performance.now();
/** A measured update's title: this prefix, then its number. */
const UPDATE_PREFIX = 'b:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

interface BenchOptions {
  connections?: number;
  seconds?: number;
  warmupSeconds?: number;
}

type FromChildren =
  | { type: 'result'; result: Record<string, number | string> }
  | { type: 'publisher_ready' }
  | { type: 'measuring' }
  | {
      type: 'published';
      /** Commit time by update number; -1 for the warm-up's. */
      committedAt: number[];
      count: number;
      measured: number;
      lateSlices: number;
      cpuMicros: number;
    }
  | { type: 'ready'; connected: number; failed: number }
  | {
      type: 'report';
      receipts: number[];
      closes: Record<string, number>;
      rssBytes: number;
      cpuMicros: number;
    };

/**
 * The fan-out on the embedded runtime and, when the local Dapr stack is up, through it (`dapr_`
 * figures); SYNC_BENCH_RUNTIMES=embedded|dapr picks one.
 */
export function benchSync(options: BenchOptions = {}) {
  return acrossRuntimes(
    process.env.SYNC_BENCH_RUNTIMES,
    () => benchEmbedded(options),
    (stack) => benchDapr(stack, options),
  );
}

async function benchEmbedded(options: BenchOptions): Promise<Record<string, number | string>> {
  const connections = options.connections ?? Number(process.env.SYNC_BENCH_CONNECTIONS ?? 5000);
  // The server holds one descriptor per connection: below that limit, run in a child that raised it.
  if (!process.argv.includes(SERVER_FLAG) && openFileLimit() < connections + 1024) {
    const child = withRaisedFileLimit(SERVER_FLAG, {
      SYNC_BENCH_CONNECTIONS: String(connections),
      ...(options.seconds ? { SYNC_BENCH_SECONDS: String(options.seconds) } : {}),
    });
    const message = (await nextMessage(child, 'result', 30 * 60_000)) as {
      type: 'result';
      result: Record<string, number | string>;
    };
    return message.result;
  }
  const seconds = options.seconds ?? Number(process.env.SYNC_BENCH_SECONDS ?? 20);
  const warmupSeconds = options.warmupSeconds ?? 3;
  const work = await mkdtemp(path.join(tmpdir(), 'taskstream-bench-sync-'));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const database = await benchDatabase();
    stops.push(database.stop);
    const databaseUrl = database.url;
    const rt: RunningRuntime = await startRuntime(
      [syncService({ replicaId: `bench-${randomUUID().slice(0, 8)}` })],
      {
        env: runtimeEnv(databaseUrl, work, { DATABASE_POOL_SIZE: '24' }),
      },
    );
    stops.unshift(() => rt.stop());

    const users = Array.from({ length: connections }, () => randomUUID());
    const tokens = await Promise.all(users.map((userId) => rt.auth.sign({ userId, role: 'user' })));

    const rssIdle = process.memoryUsage().rss;
    const clients = await startClients(rt.url, tokens, work, stops);
    const { ready } = clients;
    const rssConnected = process.memoryUsage().rss;

    // The updates come from a publisher process of their own (it stands in for task-api, which
    // publishes them in production): making and publishing the events is not the sync server's
    // CPU, and counted in this process it was a sixth of what the bench reported as the server's.
    const usersFile = path.join(work, 'users.json');
    await writeFile(usersFile, JSON.stringify(users));
    const publisher = withRaisedFileLimit(PUBLISHER_FLAG, {
      SYNC_BENCH_DATABASE_URL: databaseUrl,
      SYNC_BENCH_USERS: usersFile,
      SYNC_BENCH_SECONDS: String(seconds),
      SYNC_BENCH_WARMUP_SECONDS: String(warmupSeconds),
      SYNC_BENCH_DATA_DIR: path.join(work, 'publisher'),
    });
    stops.unshift(async () => publisher.kill('SIGKILL'));
    await nextMessage(publisher, 'publisher_ready', 120_000);
    let rssPeak = process.memoryUsage.rss();
    const rssTimer = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }, 1000);
    stops.unshift(async () => clearInterval(rssTimer));
    const measuring = nextMessage(publisher, 'measuring', (warmupSeconds + 60) * 1000);
    const finished = nextMessage(publisher, 'published', (warmupSeconds + seconds + 120) * 1000);
    publisher.send({ type: 'go' });
    await measuring;
    const cpuAtMeasure = { server: process.cpuUsage(), pg: await postgresCpuMs(databaseUrl) };
    const stopProfile = await startCpuProfile();
    const stopWatching = watchEventLoop();
    const publishing = (await finished) as Extract<FromChildren, { type: 'published' }>;
    const loop = stopWatching();
    await stopProfile();
    const serverCpu = process.cpuUsage(cpuAtMeasure.server);
    const pgCpuMs = (await postgresCpuMs(databaseUrl)) - cpuAtMeasure.pg;
    const { committedAt, lateSlices, count: published, measured: measuredEvents } = publishing;
    await sleep(3000); // stragglers
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    const hub = (rt.services[0] as unknown as { stats(): { connections: number } }).stats();
    const report = await clients.report();
    const { latencies, delivered, seen } = receiptsSince(report.receipts, (index) => {
      const committed = committedAt[index];
      return committed !== undefined && committed > 0 ? committed : undefined;
    });
    const pct = (p: number) => round(percentile(latencies, p), 2);
    const exposition = await (await fetch(`${rt.metricsUrl}/metrics`)).text();
    const breakdown = histogramMeans(exposition, [
      'taskstream_sync_store_duration_seconds',
      'taskstream_sync_event_lag_seconds',
      'taskstream_event_handler_duration_seconds',
    ]);
    return {
      connections,
      connected: ready.connected,
      connect_failures: ready.failed,
      open_at_end: hub.connections,
      updates_per_user_per_second: 1,
      measured_seconds: seconds,
      events_published: published,
      events_delivered: delivered,
      events_missing: published - seen.size,
      duplicates: delivered - seen.size,
      publisher_late_slices: lateSlices,
      latency_samples: latencies.length,
      commit_to_receipt_p50_ms: pct(50),
      commit_to_receipt_p95_ms: pct(95),
      commit_to_receipt_p99_ms: pct(99),
      commit_to_receipt_max_ms: round(latencies.at(-1) ?? Number.NaN, 2),
      server_rss_idle_mb: mb(rssIdle),
      server_rss_connected_mb: mb(rssConnected),
      server_rss_peak_mb: mb(rssPeak),
      clients_rss_mb: mb(report.rssBytes),
      // CPU per event over the measured window: what the rate costs, whatever else runs on the machine.
      server_cpu_us_per_event: round((serverCpu.user + serverCpu.system) / measuredEvents, 1),
      postgres_cpu_us_per_event: Number.isFinite(pgCpuMs)
        ? round((pgCpuMs * 1000) / measuredEvents, 1)
        : 'n/a',
      clients_cpu_us_per_event: round(report.cpuMicros / Math.max(1, delivered), 1),
      publisher_cpu_us_per_event: round(publishing.cpuMicros / measuredEvents, 1),
      machine_load_1m: round(loadavg()[0]!, 1),
      closes: JSON.stringify(report.closes),
      ...breakdown,
      // Whether the tail is made before the server hands an event to the sockets, or after.
      server_lag_over_50ms_pct: round(
        100 * shareAbove(exposition, 'taskstream_sync_event_lag_seconds', '0.05'),
        2,
      ),
      // The server's event loop over the measured window: how long work and GC held it.
      ...Object.fromEntries(Object.entries(loop).map(([name, value]) => [`server_${name}`, value])),
      target: 'p99 <= 50 ms',
    };
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Mutation → client receipt through the Dapr stack (task-api → outbox → daprd → Kafka → daprd →
 * sync → socket): SYNC_BENCH_DAPR_CONNECTIONS clients (1,000) on the stack's sync app, one user
 * each, and SYNC_BENCH_DAPR_RATE (200) task creates and updates a second through the stack's
 * task-api, open loop, spread over the users. A mutation's latency runs from its answer having
 * arrived (after its commit) to its client's receipt; the hops from the outbox row (written in
 * the mutation's transaction) to the relay marking it published (Kafka acknowledged it) and on
 * to the receipt show where the time goes.
 */
async function benchDapr(stack: StackEnv, options: BenchOptions): Promise<Record<string, number | string>> {
  const connections = Number(process.env.SYNC_BENCH_DAPR_CONNECTIONS ?? 1000);
  const rate = Number(process.env.SYNC_BENCH_DAPR_RATE ?? 200);
  const seconds = options.seconds ?? Number(process.env.SYNC_BENCH_SECONDS ?? 20);
  const warmupSeconds = options.warmupSeconds ?? 3;
  const taskApi = await stackApp(stack, 'task-api');
  const syncUrl = await stackApp(stack, 'sync');
  const { userIds, tokens } = await stackUsers(stack, connections);
  const pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 2 });
  const work = await mkdtemp(path.join(tmpdir(), 'taskstream-bench-sync-'));
  const stops: (() => Promise<unknown>)[] = [() => pool.end()];
  // Under Dapr the consumer group is the app id.
  const settled = () => stackSettled(pool, taskApi, userIds, ['sync']);
  try {
    // One task per user for the updates, made before the clients connect (clients count only the
    // bench's numbered titles).
    const seeding = await runAtRate(
      taskApi,
      tokens.map((token) => ({ method: 'POST', path: '/api/tasks', token, body: { title: 'sync bench' } })),
      rate,
    );
    if (seeding.errors)
      throw new Error(`creating the tasks to update: ${JSON.stringify(seeding.errorKinds)}`);
    const { rows } = await pool.query<{ user_id: string; id: string }>(
      'SELECT user_id, id FROM tasks WHERE user_id = ANY($1::uuid[])',
      [userIds],
    );
    const seedOf = new Map(rows.map((r) => [r.user_id, r.id]));
    const clients = await startClients(syncUrl, tokens, work, stops);
    await settled();

    const total = rate * (warmupSeconds + seconds);
    const measuredFrom = rate * warmupSeconds;
    const requests = Array.from({ length: total }, (_, i) => {
      const user = i % connections;
      const token = tokens[user]!;
      const body = { title: `${UPDATE_PREFIX}${i}` };
      // A user's mutations take turns: a new task, then an update of its own seed task.
      return Math.floor(i / connections) % 2
        ? { method: 'PATCH', path: `/api/tasks/${seedOf.get(userIds[user]!)}`, token, body }
        : { method: 'POST', path: '/api/tasks', token, body };
    });
    const syncMetricsBefore = await (await fetch(`${syncUrl}/metrics`)).text();
    const started = new Date();
    const load = await runAtRate(taskApi, requests, rate);
    const drained = await settled();
    await sleep(1000); // from the sync app's socket to the client
    const syncMetrics = await (await fetch(`${syncUrl}/metrics`)).text();
    const report = await clients.report();

    const accepted = (index: number) => load.statuses[index]! >= 200 && load.statuses[index]! < 300;
    const { latencies, delivered, seen } = receiptsSince(report.receipts, (index) =>
      index >= measuredFrom && accepted(index) ? load.answeredAt[index] : undefined,
    );
    const hops = await outboxHops(pool, userIds, started, report.receipts, measuredFrom);
    const pct = (sorted: number[], p: number) => round(percentile(sorted, p), 1);
    return {
      connections,
      connected: clients.ready.connected,
      target_mutations_per_s: rate,
      achieved_mutations_per_s: round(total / load.seconds),
      measured_seconds: seconds,
      mutations: total,
      mutation_errors: load.errors,
      ...(load.errors ? { mutation_error_kinds: JSON.stringify(load.errorKinds) } : {}),
      mutation_http_p99_ms: pct(
        load.latencies.sort((a, b) => a - b),
        99,
      ),
      events_delivered: delivered,
      events_missing: requests.filter((_, i) => accepted(i) && !seen.has(i)).length,
      duplicates: delivered - seen.size,
      drained_within_60s: String(drained),
      latency_samples: latencies.length,
      answer_to_receipt_p50_ms: pct(latencies, 50),
      answer_to_receipt_p95_ms: pct(latencies, 95),
      answer_to_receipt_p99_ms: pct(latencies, 99),
      answer_to_receipt_max_ms: round(latencies.at(-1) ?? Number.NaN, 1),
      commit_to_receipt_p50_ms: pct(hops.total, 50),
      commit_to_receipt_p99_ms: pct(hops.total, 99),
      commit_to_kafka_p50_ms: pct(hops.toKafka, 50),
      commit_to_kafka_p99_ms: pct(hops.toKafka, 99),
      kafka_to_receipt_p50_ms: pct(hops.toReceipt, 50),
      kafka_to_receipt_p99_ms: pct(hops.toReceipt, 99),
      ...histogramMeans(
        syncMetrics,
        ['taskstream_sync_store_duration_seconds', 'taskstream_sync_event_lag_seconds'],
        syncMetricsBefore,
      ),
      machine_load_1m: round(loadavg()[0]!, 1),
      target: 'p99 <= 75 ms',
    };
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Per received measured mutation (number `from` on): its outbox row's time to the relay marking
 * it published (Kafka acknowledged it), from then to the client's receipt, and the whole. The
 * row's time is its transaction's start (the server tracks no commit times), so `total` is an
 * upper bound where the answer's arrival gives a lower one. Database and clients read the same
 * machine's clock.
 */
async function outboxHops(pool: pg.Pool, userIds: string[], since: Date, receipts: number[], from: number) {
  const { rows } = await pool.query<{ title: string; created: number; published: number }>(
    `SELECT event->'data'->'payload'->'task'->>'title' AS title,
       extract(epoch FROM created_at) * 1000 AS created, extract(epoch FROM published_at) * 1000 AS published
     FROM outbox WHERE topic = $1 AND partition_key = ANY($2::text[]) AND created_at >= $3 AND published_at IS NOT NULL`,
    [Topics.taskUpdates, userIds, since],
  );
  const byIndex = new Map(
    rows
      .filter((r) => r.title?.startsWith(UPDATE_PREFIX))
      .map((r) => [Number(r.title.slice(UPDATE_PREFIX.length)), r]),
  );
  const hops = { toKafka: [] as number[], toReceipt: [] as number[], total: [] as number[] };
  for (let i = 0; i < receipts.length; i += 2) {
    const row = receipts[i]! >= from ? byIndex.get(receipts[i]!) : undefined;
    if (!row) continue;
    const [created, published, received] = [Number(row.created), Number(row.published), receipts[i + 1]!];
    hops.toKafka.push(published - created);
    hops.toReceipt.push(received - published);
    hops.total.push(received - created);
  }
  for (const list of Object.values(hops)) list.sort((a, b) => a - b);
  return hops;
}

/** The settings of the bench's server and publisher runtimes (production serves /metrics on its own port only). */
const runtimeEnv = (databaseUrl: string, dataDir: string, extra: Record<string, string> = {}) =>
  benchEnv(databaseUrl, {
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    DATA_DIR: dataDir,
    METRICS_PORT: '0',
    ...extra,
  });

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

type ClientReport = Extract<FromChildren, { type: 'report' }>;

/** One WebSocket client per token on `url`'s task stream, in a child process; resolves once all are open. */
async function startClients(url: string, tokens: string[], work: string, stops: (() => Promise<unknown>)[]) {
  const tokensFile = path.join(work, 'tokens.json');
  await writeFile(tokensFile, JSON.stringify(tokens));
  const child = withRaisedFileLimit(CLIENT_FLAG, { SYNC_BENCH_URL: url, SYNC_BENCH_TOKENS: tokensFile });
  stops.unshift(async () => child.kill('SIGKILL'));
  const ready = await nextMessage(child, 'ready', 180_000);
  if (ready.type !== 'ready') throw new Error('clients did not start');
  return {
    ready,
    /** What the clients received so far (then they close). */
    async report(): Promise<ClientReport> {
      child.send({ type: 'report' });
      const report = await nextMessage(child, 'report', 60_000);
      if (report.type !== 'report') throw new Error('no report from clients');
      return report;
    },
  };
}

/**
 * The clients' receipts (update number, time, …): how many arrived, which updates, and each
 * receipt's latency from the time `from` gives its update (none: not measured), sorted.
 */
function receiptsSince(receipts: number[], from: (index: number) => number | undefined) {
  const latencies: number[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < receipts.length; i += 2) {
    const index = receipts[i]!;
    seen.add(index);
    const start = from(index);
    if (start !== undefined) latencies.push(receipts[i + 1]! - start);
  }
  latencies.sort((a, b) => a - b);
  return { latencies, delivered: receipts.length / 2, seen };
}

/**
 * Sum of the values of the exposition's lines that match, less their sum in `before` (an earlier
 * exposition of the same process: a long-running server's histograms hold more than one run).
 */
function sumLines(text: string, match: (line: string) => boolean, before = ''): number {
  const sum = (t: string) =>
    t
      .split('\n')
      .filter(match)
      .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
  return sum(text) - sum(before);
}

/** Mean of each named histogram (all label sets together), in ms, from the Prometheus text. */
function histogramMeans(text: string, names: string[], before = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const total = (suffix: string) => sumLines(text, (line) => line.startsWith(`${name}_${suffix}`), before);
    const count = total('count');
    if (count > 0)
      out[`${name.replace(/^taskstream_/, '').replace(/_seconds$/, '')}_mean_ms`] = round(
        (total('sum') / count) * 1000,
        2,
      );
  }
  return out;
}

/** Share of a histogram's observations above the bucket bound `le` (all label sets together). */
function shareAbove(text: string, name: string, le: string, before = ''): number {
  const count = sumLines(text, (line) => line.startsWith(`${name}_count`), before);
  const within = sumLines(
    text,
    (line) => line.startsWith(`${name}_bucket`) && line.includes(`le="${le}"`),
    before,
  );
  return count > 0 ? 1 - within / count : Number.NaN;
}

/** The soft limit on open files of this process. */
function openFileLimit(): number {
  const text = execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

/** This file again in a child (IPC), with as many open files as the hard limit allows, up to 65536. */
function withRaisedFileLimit(flag: string, env: Record<string, string>): ChildProcess {
  const command = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "${process.execPath}" --import tsx "${SELF}" ${flag}`;
  return spawn('bash', ['-c', command], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
}

function nextMessage(
  child: ChildProcess,
  type: FromChildren['type'],
  timeoutMs: number,
): Promise<FromChildren> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bench child: no ${type} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (message: FromChildren) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`bench child exited with ${code}`)));
  });
}

/**
 * The publisher side: every user gets one update a second, spread over the second in 50 slices,
 * through the embedded bus of a runtime that runs no service (as task-api publishes); each
 * update's number is in its title, and its commit time is kept by that number.
 */
async function runPublisher() {
  const env = process.env;
  const users = JSON.parse(await readFile(env.SYNC_BENCH_USERS!, 'utf8')) as string[];
  const seconds = Number(env.SYNC_BENCH_SECONDS);
  const warmupSeconds = Number(env.SYNC_BENCH_WARMUP_SECONDS);
  await mkdir(env.SYNC_BENCH_DATA_DIR!, { recursive: true });
  const rt = await startRuntime([], {
    env: runtimeEnv(env.SYNC_BENCH_DATABASE_URL!, env.SYNC_BENCH_DATA_DIR!),
  });
  process.send!({ type: 'publisher_ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const slices = 50;
  const sliceMs = 1000 / slices;
  const perSlice = Math.ceil(users.length / slices);
  const committedAt: number[] = [];
  const measuredFrom = warmupSeconds * slices;
  const totalSlices = (warmupSeconds + seconds) * slices;
  const inFlight = new Set<Promise<void>>();
  let lateSlices = 0;
  let count = 0;
  let cpuAtMeasure: NodeJS.CpuUsage | undefined;
  const start = now();
  for (let slice = 0; slice < totalSlices; slice++) {
    if (slice === measuredFrom) {
      cpuAtMeasure = process.cpuUsage();
      process.send!({ type: 'measuring' });
    }
    const due = start + slice * sliceMs;
    if (now() - due > sliceMs) lateSlices++;
    await sleep(due - now());
    const first = (slice % slices) * perSlice;
    const batch = users
      .slice(first, first + perSlice)
      .map((userId) => taskEvent(userId, { title: `${UPDATE_PREFIX}${count++}` }));
    const measured = slice >= measuredFrom;
    const publishing = rt.ports.bus.publish(onTaskUpdates(...batch)).then(() => {
      const at = now();
      for (const event of batch) {
        const index = Number(
          (event.data as { payload: { task: { title: string } } }).payload.task.title.slice(
            UPDATE_PREFIX.length,
          ),
        );
        committedAt[index] = measured ? at : -1;
      }
    });
    inFlight.add(publishing);
    void publishing.finally(() => inFlight.delete(publishing));
  }
  await Promise.all(inFlight);
  const cpu = process.cpuUsage(cpuAtMeasure);
  const result: FromChildren = {
    type: 'published',
    committedAt,
    count,
    measured: seconds * slices * perSlice,
    lateSlices,
    cpuMicros: cpu.user + cpu.system,
  };
  process.send!(result, () => {
    void rt.stop().finally(() => process.exit(0));
  });
}

/** The client side: one socket per token, each frame's receipt time by its update number. */
async function runClients() {
  const url = process.env.SYNC_BENCH_URL!.replace(/^http/, 'ws');
  const tokens = JSON.parse(await readFile(process.env.SYNC_BENCH_TOKENS!, 'utf8')) as string[];
  const receipts: number[] = [];
  const closes: Record<string, number> = {};
  const sockets: WebSocket[] = [];
  let failed = 0;
  let next = 0;
  const open = async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(`${url}/ws/tasks`, ['bearer', token], { perMessageDeflate: false });
        ws.on('message', (data) => {
          const message = JSON.parse(String(data));
          if (message.type === 'hello') return resolve();
          const title = message.event?.data?.payload?.task?.title;
          if (message.type === 'event' && typeof title === 'string' && title.startsWith(UPDATE_PREFIX))
            receipts.push(Number(title.slice(UPDATE_PREFIX.length)), now());
        });
        ws.on('error', () => {
          failed++;
          resolve();
        });
        ws.on('close', (code) => {
          closes[code] = (closes[code] ?? 0) + 1;
          resolve();
        });
        sockets.push(ws);
      });
    }
  };
  await Promise.all(Array.from({ length: 100 }, open));
  const cpuAtReady = process.cpuUsage();
  process.send!({ type: 'ready', connected: tokens.length - failed, failed });
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'report') return;
    const cpu = process.cpuUsage(cpuAtReady);
    process.send!(
      {
        type: 'report',
        receipts,
        closes,
        rssBytes: process.memoryUsage().rss,
        cpuMicros: cpu.user + cpu.system,
      },
      () => {
        for (const ws of sockets) ws.terminate();
        process.exit(0);
      },
    );
  });
}

if (process.argv.includes(CLIENT_FLAG)) {
  await runClients();
} else if (process.argv.includes(PUBLISHER_FLAG)) {
  await runPublisher();
} else if (process.argv.includes(SERVER_FLAG)) {
  const result = await benchEmbedded({});
  process.send!({ type: 'result', result }, () => process.exit(0));
} else if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const result = await benchSync();
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
