import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createAuditService } from '@taskstream/audit';
import { startRuntime } from '@taskstream/platform';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';
import { benchDatabase, benchEnv, round } from './support.js';

const CLIENTS = 64;

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
 * task-api with the audit and sync consumers, with every span exported over OTLP/HTTP and metrics
 * recorded ("on"), and with neither (no exporter, METRICS_ENABLED=false: "off"), in alternating
 * rounds on one database.
 */
export async function benchOps(options: { roundMs?: number; rounds?: number } = {}) {
  const roundMs = options.roundMs ?? Number(process.env.OPS_BENCH_ROUND_MS ?? 5000);
  const rounds = options.rounds ?? Number(process.env.OPS_BENCH_ROUNDS ?? 4);
  // What "on" switches on (both by default): OPS_BENCH_PARTS=tracing or =metrics measures one.
  const parts = new Set((process.env.OPS_BENCH_PARTS ?? 'tracing,metrics').split(','));
  const database = await benchDatabase();
  const sink = await startSink();
  const results: Record<'on' | 'off', number[]> = { on: [], off: [] };
  let errors = 0;
  let spansExported = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which mode goes first, so neither always inherits the other's leftovers.
      for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const runtime = await startRuntime([createTaskApiService, createAuditService, createSyncService], {
          env: benchEnv(database.url, {
            DATA_DIR: await mkdtemp(path.join(tmpdir(), 'taskstream-bench-ops-')),
            OTEL_EXPORTER_OTLP_ENDPOINT: mode === 'on' && parts.has('tracing') ? sink.url : '',
            METRICS_ENABLED: mode === 'on' && parts.has('metrics') ? 'true' : 'false',
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
          await runtime.stop();
        }
      }
    }
  } finally {
    spansExported = await sink.spans();
    await sink.close();
    await database.stop();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const off = mean(results.off);
  const on = mean(results.on);
  return {
    ops_creates_per_s_off: round(off),
    ops_creates_per_s_on: round(on),
    ops_tracing_and_metrics_cost_percent: round(((off - on) / off) * 100, 2),
    ops_switched: [...parts].join('+'),
    ops_rounds: rounds,
    ops_round_seconds: roundMs / 1000,
    ops_spans_exported: spansExported,
    ops_errors: errors,
    cpus: os.cpus().length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchOps(), null, 2));
  process.exit(0);
}
