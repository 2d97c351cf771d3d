import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createAuditService } from '@taskstream/audit';
import { startRuntime } from '@taskstream/platform';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';
import { parse } from 'yaml';
import { benchDatabase, benchEnv, round } from './support.js';

const CLIENTS = 64;

/**
 * The sampler the chart deploys (`env` of helm/taskstream/values.yaml), read rather than copied
 * so that the figure the ≤ 5 % target is judged on follows the chart.
 */
function chartSampler(): { sampler: string; arg: string } {
  const values = parse(
    readFileSync(new URL('../../helm/taskstream/values.yaml', import.meta.url), 'utf8'),
  ) as {
    env?: Record<string, string | undefined>;
  };
  const sampler = values.env?.OTEL_TRACES_SAMPLER;
  if (!sampler) throw new Error('helm/taskstream/values.yaml sets no env.OTEL_TRACES_SAMPLER');
  return { sampler, arg: values.env?.OTEL_TRACES_SAMPLER_ARG ?? '' };
}

type Mode = 'off' | 'chart' | 'always';

/**
 * The SDK reads its sampler from process.env when the runtime builds the tracer provider (the
 * runtime's env option does not reach it), so each mode sets it there. "always" is the SDK
 * default, parentbased_always_on, set explicitly so that an OTEL_TRACES_SAMPLER in the caller's
 * shell cannot change what it measures. ("off" has no tracer provider: no sampler is read.)
 */
function useSampler(mode: Mode, chart: { sampler: string; arg: string }) {
  delete process.env.OTEL_TRACES_SAMPLER;
  delete process.env.OTEL_TRACES_SAMPLER_ARG;
  if (mode === 'always') process.env.OTEL_TRACES_SAMPLER = 'parentbased_always_on';
  if (mode === 'chart') {
    process.env.OTEL_TRACES_SAMPLER = chart.sampler;
    if (chart.arg) process.env.OTEL_TRACES_SAMPLER_ARG = chart.arg;
  }
}

/**
 * An OTLP/HTTP sink that accepts and counts spans (stands in for a collector), in a worker thread
 * of its own: a collector runs elsewhere, so parsing the export must not load the measured loop.
 */
const SINK = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
let spans = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      for (const rs of JSON.parse(Buffer.concat(chunks).toString()).resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
    } catch {}
    res.setHeader('content-type', 'application/json');
    res.end('{}');
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m === 'count') parentPort.postMessage({ spans });
});
`;

async function startSink() {
  const worker = new Worker(SINK, { eval: true });
  const { port } = await new Promise<{ port: number }>((resolve) => worker.once('message', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () =>
      new Promise<number>((resolve) => {
        worker.once('message', (m: { spans: number }) => resolve(m.spans));
        worker.postMessage('count');
      }),
    close: () => worker.terminate(),
  };
}

/**
 * Cost of tracing and metrics: task creation throughput (64 clients, as the task-api bench) of
 * task-api with the audit and sync consumers, in three modes on one database, in rounds whose
 * order rotates (each mode goes first, second and third equally often over a multiple of 3
 * rounds, so none always inherits another's leftovers):
 *
 * - "off": no exporter, METRICS_ENABLED=false;
 * - "chart": spans exported over OTLP/HTTP with the chart's sampler (env.OTEL_TRACES_SAMPLER and
 *   _ARG of values.yaml), metrics recorded: what a deployment runs, and what the ≤ 5 % target is about;
 * - "always": the same with every trace kept (the SDK default), for comparison.
 */
export async function benchOps(options: { roundMs?: number; rounds?: number } = {}) {
  const roundMs = options.roundMs ?? Number(process.env.OPS_BENCH_ROUND_MS ?? 5000);
  const rounds = options.rounds ?? Number(process.env.OPS_BENCH_ROUNDS ?? 6);
  // What "on" switches on (both by default): OPS_BENCH_PARTS=tracing or =metrics measures one.
  // Metrics alone do not depend on the sampler, so "always" is then left out.
  const parts = new Set((process.env.OPS_BENCH_PARTS ?? 'tracing,metrics').split(','));
  const modes: Mode[] = parts.has('tracing') ? ['off', 'chart', 'always'] : ['off', 'chart'];
  const chart = chartSampler();
  const database = await benchDatabase();
  const sink = await startSink();
  const results: Record<Mode, number[]> = { off: [], chart: [], always: [] };
  const spans: Record<Mode, number> = { off: 0, chart: 0, always: 0 };
  let errors = 0;
  const saved = {
    OTEL_TRACES_SAMPLER: process.env.OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG: process.env.OTEL_TRACES_SAMPLER_ARG,
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = [...modes.slice(round % modes.length), ...modes.slice(0, round % modes.length)];
      for (const mode of order) {
        const on = mode !== 'off';
        useSampler(mode, chart);
        const spansBefore = await sink.spans();
        const runtime = await startRuntime([createTaskApiService, createAuditService, createSyncService], {
          env: benchEnv(database.url, {
            DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-ops-')),
            OTEL_EXPORTER_OTLP_ENDPOINT: on && parts.has('tracing') ? sink.url : '',
            METRICS_ENABLED: on && parts.has('metrics') ? 'true' : 'false',
          }),
        });
        try {
          // Users made directly (registering hashes a password per user, which is not what is measured).
          const tokens: string[] = [];
          for (let i = 0; i < CLIENTS; i++) {
            const id = randomUUID();
            await runtime.pool.query(
              `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, 'user', 'x')`,
              [id, `ops-bench-${id}@example.com`, `B${i}`],
            );
            tokens.push(await runtime.auth.sign({ userId: id, role: 'user' }));
          }
          const load = await new Promise<{ completed: number; seconds: number; errors: number }>(
            (resolve, reject) => {
              const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), {
                workerData: { url: runtime.url, tokens, warmupMs: 1000, durationMs: roundMs },
              });
              worker.once('message', resolve);
              worker.once('error', reject);
            },
          );
          results[mode].push(load.completed / load.seconds);
          errors += load.errors;
        } finally {
          // Stopping flushes the span exporter, so the sink has every span of this run.
          await runtime.stop();
        }
        spans[mode] += (await sink.spans()) - spansBefore;
      }
    }
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await sink.close();
    await database.stop();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const off = mean(results.off);
  const cost = (mode: Mode) => round(((off - mean(results[mode])) / off) * 100, 2);
  const perRound = (mode: Mode) => results[mode].map((x) => round(x)).join(', ');
  const chartLabel = `${chart.sampler}${chart.arg ? ` ${chart.arg}` : ''}`;
  return {
    ops_target: `≤ 5 % applies to ops_cost_percent_chart_sampler (${chartLabel}, the chart's default)`,
    ops_creates_per_s_off: round(off),
    ops_creates_per_s_chart_sampler: round(mean(results.chart)),
    ops_cost_percent_chart_sampler: cost('chart'),
    ...(modes.includes('always')
      ? {
          ops_creates_per_s_always_on: round(mean(results.always)),
          ops_cost_percent_always_on: cost('always'),
        }
      : {}),
    ops_chart_sampler: chartLabel,
    ops_switched: [...parts].join('+'),
    ops_rounds: rounds,
    ops_round_seconds: roundMs / 1000,
    ops_per_round_off: perRound('off'),
    ops_per_round_chart_sampler: perRound('chart'),
    ...(modes.includes('always') ? { ops_per_round_always_on: perRound('always') } : {}),
    ops_spans_exported_chart_sampler: spans.chart,
    ...(modes.includes('always') ? { ops_spans_exported_always_on: spans.always } : {}),
    ops_errors: errors,
    cpus: os.cpus().length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchOps(), null, 2));
  process.exit(0);
}
