import { randomUUID } from 'node:crypto';
import { createAuth } from '@taskstream/platform';
import pg from 'pg';
import { readStackEnv, stackAppUrls } from '../stack/sidecar.js';
import { percentile, round } from './support.js';
import { benchTaskApi, CLIENTS, runCreateLoad } from './task-api.js';

/**
 * `npm run bench -- --runtime dapr`: the task-create load of the embedded bench (64 clients,
 * POST /api/tasks back to back) against the local Dapr stack's task-api (its REST port; its
 * outbox relay publishes through daprd to Kafka), and the embedded bench itself in the same run,
 * so the Dapr/Kafka overhead comes out as ratios of figures measured side by side.
 * Needs `bash scripts/stack/stack.sh up`.
 */
export async function benchDapr(options: { durationMs?: number; warmupMs?: number } = {}) {
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const warmupMs = options.warmupMs ?? 2000;
  const env = readStackEnv();
  const url = stackAppUrls(env)['task-api'];
  if (!url) throw new Error('the stack runs no task-api (STACK_APPS in .stack/env)');
  const ready = await fetch(`${url}/readyz`).then(
    (r) => r.status,
    () => 0,
  );
  if (ready !== 200)
    throw new Error(
      `the stack's task-api at ${url} is not ready (${ready || 'no answer'}): bash scripts/stack/stack.sh up`,
    );

  const embedded = await benchTaskApi({ durationMs, warmupMs });

  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  try {
    // Registration is limited per address (ADR 0015): 64 sign-ups from one address are refused
    // for a quarter of an hour. The users' tokens are signed with the stack's own secret instead.
    if (!env.JWT_SECRET)
      throw new Error('the stack wrote no JWT_SECRET to .stack/env: bash scripts/stack/stack.sh up');
    const auth = createAuth({
      secret: env.JWT_SECRET,
      issuer: 'taskstream',
      audience: 'taskstream',
      ttlSeconds: 3600,
    });
    const userIds = Array.from({ length: CLIENTS }, () => randomUUID());
    const tokens = await Promise.all(userIds.map((userId) => auth.sign({ userId, role: 'user' })));
    const started = new Date();
    const load = await runCreateLoad(url, tokens, { durationMs, warmupMs });
    const loadEnded = Date.now();
    const backlogAtEnd = await backlog(pool, userIds);
    // Everything the load wrote reaches Kafka: how long after the last create.
    let drained = backlogAtEnd;
    while (drained > 0 && Date.now() - loadEnded < 120_000) {
      await new Promise((r) => setTimeout(r, 100));
      drained = await backlog(pool, userIds);
    }
    const drainS = drained === 0 ? (Date.now() - loadEnded) / 1000 : Number.NaN;
    const publish = await publishLatencies(pool, userIds, started);
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
    };
  } finally {
    await pool.end();
  }
}

async function backlog(pool: pg.Pool, userIds: string[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND partition_key = ANY($1::text[])',
    [userIds],
  );
  return rows[0]!.n;
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
  return { count: sorted.length, sorted };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchDapr(), null, 2));
  process.exit(0);
}
