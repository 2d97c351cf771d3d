import { randomUUID } from 'node:crypto';
import { createFraudService } from '@taskstream/fraud';
import { createPaymentsService } from '@taskstream/payments';
import { startRuntime } from '@taskstream/platform';
import { SyncClient, type WebSocketConstructor } from '@taskstream/sync/client';
import WebSocket from 'ws';
import { benchDatabase, benchEnv, percentile, postgresCpuMs, round, startCpuProfile } from './support.js';
import { CLIENTS, rawInsertRate, runCreateLoad } from './task-api.js';

/**
 * Transfers at 64 concurrent clients against payments and fraud on the embedded runtime (ADR
 * 0017/0018): each client sends 1 cent from its wallet to the next client's, with an
 * Idempotency-Key per request. Reported: accepted transfers/s and their request latency, the
 * transfers that reached `completed` (scored, then settled) per second and their create →
 * complete p99, beside the raw PostgreSQL insert rate of payment-shaped rows in the same run
 * (the ceiling). An admin's client of the live tracker (`WS /ws/transactions`) times each
 * completion from its commit (`updated_at`) to its arrival: commit → tracker client p99. Targets: ≥ 1,000 completed transfers/s, p99 ≤ 50 ms on a quiet 2-core machine.
 */
export async function benchPayments(options: { durationMs?: number; warmupMs?: number } = {}) {
  const durationMs = options.durationMs ?? Number(process.env.BENCH_DURATION_MS ?? 10000);
  const warmupMs = options.warmupMs ?? 2000;
  const database = await benchDatabase();
  const runtime = await startRuntime([createPaymentsService, createFraudService], {
    // Nothing is held: the bench measures the automatic path (a held one waits for an admin).
    env: benchEnv(database.url, { FRAUD_HOLD_THRESHOLD: '2' }),
  });
  try {
    const admin = await runtime.auth.sign({ userId: randomUUID(), role: 'admin' });
    const call = async (method: string, path: string, token: string, body: unknown) => {
      const res = await fetch(runtime.url + path, {
        method,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'idempotency-key': randomUUID(),
        },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string };
    };
    const tokens: string[] = [];
    const wallets: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const token = await runtime.auth.sign({ userId: randomUUID(), role: 'user' });
      const wallet = await call('POST', '/api/wallets', token, { currency: 'EUR', name: `bench ${i}` });
      await call('POST', `/api/wallets/${wallet.id}/deposits`, admin, { amount: 1_000_000_000 });
      tokens.push(token);
      wallets.push(wallet.id);
    }
    const transfers = wallets.map((from, i) => ({ from, to: wallets[(i + 1) % wallets.length]! }));

    const toClient: number[] = [];
    const tracker = new SyncClient({
      url: runtime.url,
      paths: { ws: '/ws/transactions', sse: '/api/transactions/stream' },
      token: admin,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: (event) => {
        const t = (event.data as unknown as { transaction?: { status: string; updated_at: string } })
          .transaction;
        if (t?.status === 'completed') toClient.push(Date.now() - Date.parse(t.updated_at));
      },
    });
    const live = new Promise<void>((resolve) => {
      tracker.start();
      const check = setInterval(() => {
        if (tracker.state === 'open') {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    await Promise.race([live, new Promise((r) => setTimeout(r, 5000))]);

    const completedSoFar = async () =>
      (
        await runtime.pool.query(
          `SELECT count(*)::int AS n FROM payment_transactions WHERE kind = 'transfer' AND status = 'completed'`,
        )
      ).rows[0].n as number;
    const before = {
      completed: await completedSoFar(),
      app: process.cpuUsage(),
      pg: await postgresCpuMs(database.url),
    };
    const stopProfile = await startCpuProfile();
    const started = new Date();
    const load = await runCreateLoad(runtime.url, tokens, { durationMs, warmupMs, transfers });
    // Where the backlog sits when the requests stop: events not yet handled per consumer.
    const lagAtEnd = Object.fromEntries(
      ((await runtime.ports.bus.lag?.()) ?? [])
        .filter((l) => l.topic === 'payment-events')
        .map((l) => [`lag_at_end_${l.consumer}`, l.lag]),
    );
    const measuredFrom = new Date(started.getTime() + warmupMs);
    const measuredTo = new Date(measuredFrom.getTime() + durationMs);
    // Scoring and settling trail the requests: give them the load's length again to catch up.
    const settleBy = Date.now() + durationMs;
    const open = async () =>
      (
        await runtime.pool.query(
          `SELECT count(*)::int AS n FROM payment_transactions WHERE kind = 'transfer' AND status = 'created'`,
        )
      ).rows[0].n as number;
    while ((await open()) > 0 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 200));
    await stopProfile();
    // CPU per completed transfer over the load and its settling tail, both sides (steadier than
    // rates on a shared machine): the server's is the process's less the load worker thread's.
    const app = process.cpuUsage(before.app);
    const serverUs = app.user + app.system - load.load_generator_cpu_ms * 1000;
    const pgMs = (await postgresCpuMs(database.url)) - before.pg;
    const completedAll = Math.max(1, (await completedSoFar()) - before.completed);
    const { rows } = await runtime.pool.query(
      `SELECT extract(epoch FROM updated_at - created_at) * 1000 AS ms, updated_at <= $2 AS in_window
         FROM payment_transactions
        WHERE kind = 'transfer' AND status = 'completed' AND created_at >= $1 AND created_at < $2`,
      [measuredFrom, measuredTo],
    );
    const settle = rows.map((r: { ms: string }) => Number(r.ms)).sort((a, b) => a - b);
    const completedInWindow = rows.filter((r: { in_window: boolean }) => r.in_window).length;
    const unsettled = await open();
    tracker.stop();
    toClient.sort((a, b) => a - b);
    const ceiling = await rawInsertRate(
      database.url,
      durationMs,
      'payment_transactions',
      `INSERT INTO bench_raw (id, kind, status, from_wallet_id, to_wallet_id, amount, currency, description, created_by, created_at, updated_at)
       VALUES (gen_random_uuid(), 'transfer', 'created', gen_random_uuid(), gen_random_uuid(), 1, 'EUR', $1, gen_random_uuid(), now(), now())`,
    );
    return {
      clients: load.clients,
      duration_s: load.duration_s,
      accepted_transfers_per_s: load.creates_per_s,
      request_p50_ms: load.p50_ms,
      request_p99_ms: load.p99_ms,
      errors: load.errors,
      completed_transfers_per_s: round(completedInWindow / (durationMs / 1000)),
      create_to_complete_p50_ms: round(percentile(settle, 50), 2),
      create_to_complete_p99_ms: round(percentile(settle, 99), 2),
      still_created_at_end: unsettled,
      ...lagAtEnd,
      server_cpu_us_per_transfer: Number.isFinite(serverUs) ? round(serverUs / completedAll, 0) : 'n/a',
      postgres_cpu_us_per_transfer: Number.isFinite(pgMs) ? round((pgMs * 1000) / completedAll, 0) : 'n/a',
      tracker_events_received: toClient.length,
      commit_to_tracker_client_p50_ms: toClient.length ? round(percentile(toClient, 50), 2) : 'n/a',
      commit_to_tracker_client_p99_ms: toClient.length ? round(percentile(toClient, 99), 2) : 'n/a',
      raw_insert_per_s: round(ceiling),
      share_of_ceiling: round(completedInWindow / (durationMs / 1000) / ceiling, 3),
    };
  } finally {
    await runtime.stop();
    await database.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchPayments(), null, 2));
}
