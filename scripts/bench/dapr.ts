import pg from 'pg';
import { readStackEnv, stackAppUrls } from '../stack/sidecar.js';
import { bareBulkPublish, bareHop } from './dapr-bare.js';
import {
  bucketPercentile,
  cpuPerThousand,
  histogramBuckets,
  hopBreakdown,
  metricSum,
  stackCpuMs,
  stackProcesses,
} from './dapr-hops.js';
import { percentile, processTable, round, stackApp, stackOutboxBacklog, stackUsers } from './support.js';
import { benchTaskApi, CLIENTS, runCreateLoad } from './task-api.js';

/**
 * `npm run bench -- --runtime dapr`: the task-create load of the embedded bench (64 clients,
 * POST /api/tasks back to back) against the local Dapr stack's task-api (its REST port; its
 * outbox relay publishes through daprd to Kafka), and the embedded bench itself in the same run,
 * so the Dapr/Kafka overhead comes out as ratios of figures measured side by side. Then where one
 * event's time goes (dapr-hops.ts), each stack process's CPU per 1,000 events, and the bare
 * ceiling of daprd + Kafka alone in the same run (dapr-bare.ts).
 * Needs `bash scripts/stack/stack.sh up`.
 */
export async function benchDapr(options: { durationMs?: number; warmupMs?: number } = {}) {
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const warmupMs = options.warmupMs ?? 2000;
  const env = readStackEnv();
  const appUrls = stackAppUrls(env);
  const url = await stackApp(env, 'task-api');

  const embedded = await benchTaskApi({ durationMs, warmupMs });

  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  try {
    // Registration is limited per address (ADR 0015): 64 sign-ups from one address are refused
    // for a quarter of an hour. The users' tokens are signed with the stack's own secret instead.
    const { userIds, tokens } = await stackUsers(env, CLIENTS);
    const processes = stackProcesses();
    const ports = await daprdPorts(processes);
    const scrape = () => Promise.all(metricsUrls(appUrls.audit, ports).map(metricsText));
    const metricsBefore = await scrape();
    const cpuBefore = await stackCpuMs(processes);
    const started = new Date();
    const load = await runCreateLoad(url, tokens, { durationMs, warmupMs });
    const loadEnded = Date.now();
    const backlogAtEnd = await stackOutboxBacklog(pool, userIds);
    // Everything the load wrote reaches Kafka: how long after the last create.
    let drained = backlogAtEnd;
    while (drained > 0 && Date.now() - loadEnded < 120_000) {
      await new Promise((r) => setTimeout(r, 100));
      drained = await stackOutboxBacklog(pool, userIds);
    }
    const drainS = drained === 0 ? (Date.now() - loadEnded) / 1000 : Number.NaN;
    // The CPU window ends once the consumers are done too: audit has every event.
    const events = await settled(pool, userIds, started);
    const cpuAfter = await stackCpuMs(processes);
    const metricsAfter = await scrape();
    const publish = await publishLatencies(pool, userIds, started);
    const hops = await hopBreakdown(pool, env, userIds, started);
    const sample = await sampleEvent(pool, userIds);
    const bareBulk = await bareBulkPublish(env, ports.taskApiHttp, sample, {
      entries: CLIENTS,
      durationMs: 5000,
    });
    const ourRate = load.creates_per_s * publish.recordsPerCreate;
    // Without a subscriber's figures the rest of the run still stands.
    const hop = await bareHop(env, ports.taskApiHttp, sample, {
      ratePerS: Math.max(1, Math.round(load.creates_per_s)),
      durationMs: 5000,
    }).catch((err: Error) => ({
      error: err.message,
      events: 0,
      missing: 0,
      p50_ms: Number.NaN,
      p99_ms: Number.NaN,
    }));
    // The same figures of both runtimes side by side, then the ratios (dapr / embedded).
    const sideBySide: Record<string, number> = {};
    for (const figure of ['creates_per_s', 'p50_ms', 'p95_ms', 'p99_ms', 'errors'] as const) {
      sideBySide[`embedded_${figure}`] = embedded[figure];
      sideBySide[`dapr_${figure}`] = load[figure];
    }
    return {
      clients: load.clients,
      duration_s: load.duration_s,
      ...sideBySide,
      throughput_ratio: round(load.creates_per_s / embedded.creates_per_s, 3),
      p99_ratio: round(load.p99_ms / embedded.p99_ms, 2),
      embedded_outbox_backlog_at_end: embedded.outbox_backlog_at_end,
      dapr_outbox_backlog_at_end: backlogAtEnd,
      dapr_outbox_drained_after_s: round(drainS, 2),
      dapr_publish_events: publish.count,
      dapr_commit_to_kafka_p50_ms: round(percentile(publish.sorted, 50), 1),
      dapr_commit_to_kafka_p99_ms: round(percentile(publish.sorted, 99), 1),
      embedded_raw_insert_per_s: embedded.raw_insert_per_s,
      ...hops,
      ...sidecarHistograms(metricsBefore, metricsAfter),
      events_in_cpu_window: events,
      ...cpuPerThousand(cpuBefore, cpuAfter, events),
      // The bare ceiling: daprd + Kafka alone, same machine, same run.
      bare_bulk_publish_per_s: bareBulk,
      dapr_publish_per_s: round(ourRate),
      publish_ratio_to_bare: round(ourRate / bareBulk, 3),
      bare_hop_rate_per_s: Math.max(1, Math.round(load.creates_per_s)),
      bare_hop_events: hop.events,
      bare_hop_missing: hop.missing,
      bare_hop_p50_ms: hop.p50_ms,
      bare_hop_p99_ms: hop.p99_ms,
      ...('error' in hop ? { bare_hop_error: hop.error } : {}),
      commit_to_audit_p99_ratio_to_bare_hop: round(hops.hop_commit_to_audit_effect_p99_ms! / hop.p99_ms, 1),
    };
  } finally {
    await pool.end();
  }
}

/**
 * Commit → Kafka per event of the run: the outbox row's time (its transaction) to the relay marking
 * it published, which it does once daprd answered the publish, i.e. once Kafka acknowledged it.
 */
async function publishLatencies(pool: pg.Pool, userIds: string[], since: Date) {
  const { rows } = await pool.query<{ ms: number }>(
    `SELECT extract(epoch FROM published_at - created_at) * 1000 AS ms FROM outbox
      WHERE partition_key = ANY($1::text[]) AND created_at >= $2 AND published_at IS NOT NULL AND topic = 'task-events'`,
    [userIds, since],
  );
  const sorted = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  const { rows: all } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE partition_key = ANY($1::text[]) AND created_at >= $2',
    [userIds, since],
  );
  // Each create's event goes to more than one topic: the records the relay publishes per create.
  return { count: sorted.length, sorted, recordsPerCreate: all[0]!.n / Math.max(1, sorted.length) };
}

/** Rows of the run's users' task events published, and audit's rows of them once it has them all (or after 60 s): the events. */
async function settled(pool: pg.Pool, userIds: string[], since: Date): Promise<number> {
  const count = async (sql: string) => (await pool.query<{ n: number }>(sql, [userIds, since])).rows[0]!.n;
  const events = await count(
    `SELECT count(*)::int AS n FROM outbox WHERE topic = 'task-events' AND partition_key = ANY($1::text[]) AND created_at >= $2`,
  );
  const deadline = Date.now() + 60_000;
  while (
    Date.now() < deadline &&
    (await count('SELECT count(*)::int AS n FROM audit_logs WHERE actor = ANY($1::uuid[]) AND time >= $2')) <
      events
  )
    await new Promise((r) => setTimeout(r, 200));
  return events;
}

/** One task event of the run as the relay published it: the bare ceiling publishes its like. */
async function sampleEvent(pool: pg.Pool, userIds: string[]) {
  const { rows } = await pool.query<{ event: { id: string } & Record<string, unknown> }>(
    `SELECT event FROM outbox WHERE topic = 'task-events' AND partition_key = ANY($1::text[]) LIMIT 1`,
    [userIds],
  );
  if (!rows[0]) throw new Error('the run published no task event');
  return rows[0].event;
}

/** The ports of the sidecars read from their command lines: task-api's HTTP API, and each metrics port. */
async function daprdPorts(processes: Record<string, string>) {
  const table = await processTable();
  const flag = (name: string, option: string) => {
    const cmdline = table.find((p) => p.pid === processes[name])?.cmdline ?? [];
    const value = Number(cmdline[cmdline.indexOf(option) + 1]);
    if (!cmdline.includes(option) || !value) throw new Error(`${name} is not running with ${option}`);
    return value;
  };
  return {
    taskApiHttp: flag('daprd-task-api', '--dapr-http-port'),
    taskApiMetrics: flag('daprd-task-api', '--metrics-port'),
    auditMetrics: flag('daprd-audit', '--metrics-port'),
  };
}

function metricsUrls(audit: string | undefined, ports: Awaited<ReturnType<typeof daprdPorts>>) {
  if (!audit) throw new Error('the stack runs no audit (STACK_APPS in .stack/env)');
  return [
    `http://127.0.0.1:${ports.taskApiMetrics}/metrics`,
    `http://127.0.0.1:${ports.auditMetrics}/metrics`,
    `${audit}/metrics`,
  ];
}

async function metricsText(url: string) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
}

/**
 * The hops only the sidecars and the consumer time, from their histograms over the run (each
 * figure is the upper bound of the bucket holding the percentile): task-api's daprd publishing a
 * bulk request to Kafka, audit's daprd delivering a bulk of events to audit (its handlers
 * included) with the events per delivery, and audit's handler alone.
 */
function sidecarHistograms([taskApiBefore, auditDaprdBefore, auditBefore]: string[], after: string[]) {
  const [taskApiAfter, auditDaprdAfter, auditAfter] = after;
  const figures: Record<string, number> = {};
  const add = (
    name: string,
    before: string,
    now: string,
    metric: string,
    match: Record<string, string>,
    scale: number,
  ) => {
    const a = histogramBuckets(before, metric, match);
    const b = histogramBuckets(now, metric, match);
    figures[`${name}_p50_ms_at_most`] = round(bucketPercentile(a, b, 50) * scale, 1);
    figures[`${name}_p99_ms_at_most`] = round(bucketPercentile(a, b, 99) * scale, 1);
  };
  const topic = { topic: 'task-events' };
  add(
    'sidecar_bulk_publish',
    taskApiBefore!,
    taskApiAfter!,
    'dapr_component_pubsub_egress_bulk_latencies',
    topic,
    1,
  );
  // One bulk delivery of a partition's events to audit and its answer (the handlers included).
  add(
    'sidecar_delivery',
    auditDaprdBefore!,
    auditDaprdAfter!,
    'dapr_component_pubsub_ingress_bulk_latencies',
    topic,
    1,
  );
  add('audit_handler', auditBefore!, auditAfter!, 'taskstream_event_handler_duration_seconds', topic, 1000);
  const delta = (before: string, now: string, metric: string) =>
    metricSum(now, metric, topic) - metricSum(before, metric, topic);
  const deliveries = delta(
    auditDaprdBefore!,
    auditDaprdAfter!,
    'dapr_component_pubsub_ingress_bulk_latencies_count',
  );
  const handled = delta(auditBefore!, auditAfter!, 'taskstream_event_handler_duration_seconds_count');
  figures.sidecar_delivery_events_per_request = deliveries > 0 ? round(handled / deliveries, 1) : Number.NaN;
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchDapr(), null, 2));
  process.exit(0);
}
