/**
 * Rebuilds a projection from the event log, idempotently:
 *
 *   npm run replay -- --projection audit|sync --from <ISO time | log position> [--dry-run]
 *   npm run replay -- --projection balances
 *
 * The source is the kept log of published events (EVENT_LOG_RETENTION_DAYS): the embedded event
 * log, or under Dapr the outbox's published rows: `task-events` rows rebuild the audit trail,
 * `task-updates` rows the sync history. Each event goes through the projection's own inbox check (audit: event id and time;
 * sync: sync_inbox), so what is already there is skipped and a second run applies nothing.
 * `--from` takes an ISO-8601 time (rows written at or after it) or a log position (the
 * row id, as the admin tools and logs show it). Connects to DATABASE_URL, else to the embedded
 * host's PostgreSQL on EMBEDDED_PG_PORT. A running deployment does the same through its API
 * (`taskstream replay --projection …`, ADR 0024); both take the projection's replay lock.
 *
 * `balances` (ADR 0017) folds every kept `payment-events` event into wallet balances and
 * transaction statuses and reports each difference from the live tables (and any wallet whose
 * balance is not the sum of its ledger entries); it writes nothing and exits 1 when anything differs.
 */
import { parseArgs } from 'node:util';
import { auditReplay, createPartitionManager, createRecorder } from '@taskstream/audit';
import { Topics } from '@taskstream/contracts';
import { replayLedger } from '@taskstream/payments';
import {
  createLogger,
  createPool,
  loadConfig,
  type Pool,
  type Projection,
  parseFrom,
  type ReplaySummary,
  replayLog,
  withReplayLock,
} from '@taskstream/platform';
import { syncReplay } from '@taskstream/sync';
import cliProgress from 'cli-progress';

export { type Projection, parseFrom, type ReplaySummary };

export interface ReplayOptions {
  pool: Pool;
  projection: Projection;
  /** ISO-8601 time or log position; everything when absent. */
  from?: string;
  dryRun?: boolean;
  historySize?: number;
  batchSize?: number;
  /** Called after each batch with rows read so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The whole log in one run, under the projection's replay lock (the admin endpoints take the
 * same one, so a run here and one through the API never overlap).
 */
export async function replayProjection(options: ReplayOptions): Promise<ReplaySummary> {
  const { pool, projection } = options;
  const silent = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  const apply =
    projection === 'audit'
      ? auditReplay(pool, createRecorder(pool, createPartitionManager(pool, silent)))
      : syncReplay(pool, options.historySize ?? 1000);
  return withReplayLock(pool, projection, () =>
    replayLog(pool, {
      projection,
      topic: projection === 'audit' ? Topics.taskEvents : Topics.taskUpdates,
      apply,
      from: options.from,
      dryRun: options.dryRun,
      batchSize: options.batchSize,
      onProgress: options.onProgress,
    }),
  );
}

/** Prints the balances replay's summary and differences; 0 when the live tables agree, else 1. */
export async function replayBalances(pool: Pool, out: (line: string) => void = console.log): Promise<number> {
  const { replay, differences } = await replayLedger(pool);
  out(
    JSON.stringify(
      {
        projection: 'balances',
        read: replay.read,
        transaction_events: replay.transactionEvents,
        wallets: replay.balances.size,
        transactions: replay.statuses.size,
        differences: differences.length,
      },
      null,
      2,
    ),
  );
  for (const d of differences)
    out(`${d.kind} ${d.id}: replayed ${d.replayed ?? 'nothing'}, live ${d.live ?? 'nothing'}`);
  return differences.length === 0 ? 0 : 1;
}

async function main() {
  const { values } = parseArgs({
    options: {
      projection: { type: 'string' },
      from: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const projection = values.projection;
  if (projection !== 'audit' && projection !== 'sync' && projection !== 'balances') {
    console.error(
      'usage: npm run replay -- --projection audit|sync|balances [--from <ISO time | log position>] [--dry-run]',
    );
    process.exit(2);
  }
  const config = loadConfig(process.env, { serving: false });
  const url =
    config.DATABASE_URL ?? `postgres://postgres:taskstream@127.0.0.1:${config.EMBEDDED_PG_PORT}/taskstream`;
  const pool = createPool(url, 4);
  if (projection === 'balances') {
    try {
      process.exitCode = await replayBalances(pool);
    } finally {
      await pool.end();
    }
    return;
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${projection} replay [{bar}] {percentage}% | {value}/{total} events | {eta_value}s left`,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  try {
    const summary = await replayProjection({
      pool,
      projection,
      from: values.from,
      dryRun: values['dry-run'],
      historySize: config.SYNC_HISTORY_SIZE,
      onProgress(done, total) {
        if (!started) {
          bar.start(total, done);
          started = true;
        } else bar.update(done);
      },
    });
    bar.stop();
    console.log(JSON.stringify(summary, null, 2));
    if (summary.dry_run)
      console.error(`dry run: ${summary.applied} event(s) would be applied, nothing was written`);
  } catch (err) {
    bar.stop();
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
