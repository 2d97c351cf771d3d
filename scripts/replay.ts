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
 * host's PostgreSQL on EMBEDDED_PG_PORT.
 *
 * `balances` (ADR 0017) folds every kept `payment-events` event into wallet balances and
 * transaction statuses and reports each difference from the live tables (and any wallet whose
 * balance is not the sum of its ledger entries); it writes nothing and exits 1 when anything differs.
 */
import { parseArgs } from 'node:util';
import { createPartitionManager, createRecorder, entryOf } from '@taskstream/audit';
import { EventSchemas, eventName, TopicEvents } from '@taskstream/contracts';
import { replayLedger } from '@taskstream/payments';
import { createLogger, createPool, type Envelope, loadConfig, type Pool } from '@taskstream/platform';
import { type SyncedEvent, storeEvents } from '@taskstream/sync';
import cliProgress from 'cli-progress';

export type Projection = 'audit' | 'sync';

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

export interface ReplaySummary {
  projection: Projection;
  dry_run: boolean;
  /** Log rows read. */
  read: number;
  /** Events the projection got (or, dry run, would get). */
  applied: number;
  /** Events the projection already held. */
  skipped_as_duplicate: number;
  /** Events the projection does not record (other types), or that break their schema. */
  ignored: number;
  invalid: number;
}

const SOURCE_TOPIC: Record<Projection, string> = { audit: 'task-events', sync: 'task-updates' };
const SYNCED = new Set<string>(TopicEvents['task-updates']);

export function parseFrom(from: string | undefined): { position?: number; time?: Date } {
  if (from === undefined) return {};
  if (/^\d+$/.test(from)) return { position: Number(from) };
  const time = new Date(from);
  if (!/^\d{4}-\d{2}-\d{2}/.test(from) || Number.isNaN(time.getTime())) {
    throw new Error(`--from must be an ISO-8601 time or a log position, not ${JSON.stringify(from)}`);
  }
  return { time };
}

export async function replayProjection(options: ReplayOptions): Promise<ReplaySummary> {
  const { pool, projection } = options;
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? 500;
  const { position, time } = parseFrom(options.from);
  const topic = SOURCE_TOPIC[projection];
  const summary: ReplaySummary = {
    projection,
    dry_run: dryRun,
    read: 0,
    applied: 0,
    skipped_as_duplicate: 0,
    ignored: 0,
    invalid: 0,
  };

  // The embedded event log holds exactly what was published; an outbox also what waits.
  const embedded = (await pool.query(`SELECT to_regclass('event_log') IS NOT NULL AS ok`)).rows[0].ok;
  const source = embedded ? 'event_log' : 'outbox';
  const where = `topic = $1 ${embedded ? '' : 'AND published_at IS NOT NULL'} AND ($2::bigint IS NULL OR id >= $2) AND ($3::timestamptz IS NULL OR created_at >= $3)`;
  const params = [topic, position ?? null, time ?? null];
  const { rows: counted } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${source} WHERE ${where}`,
    params,
  );
  const total = counted[0]?.n ?? 0;
  options.onProgress?.(0, total);

  const silent = createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  const record =
    projection === 'audit' ? createRecorder(pool, createPartitionManager(pool, silent)) : undefined;

  let after = 0;
  for (;;) {
    const { rows } = await pool.query<{ id: number; event: Envelope }>(
      `SELECT id, event FROM ${source} WHERE ${where} AND id > $4 ORDER BY id LIMIT $5`,
      [...params, after, batchSize],
    );
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    summary.read += rows.length;
    if (projection === 'audit')
      await replayAudit(
        pool,
        rows.map((r) => r.event),
        dryRun,
        record!,
        summary,
      );
    else
      await replaySync(
        pool,
        rows.map((r) => r.event),
        dryRun,
        options.historySize ?? 1000,
        summary,
      );
    options.onProgress?.(summary.read, total);
  }
  return summary;
}

async function replayAudit(
  pool: Pool,
  events: Envelope[],
  dryRun: boolean,
  record: ReturnType<typeof createRecorder>,
  summary: ReplaySummary,
) {
  const entries = [];
  for (const event of events) {
    try {
      const entry = entryOf(event);
      if (entry) entries.push(entry);
      else summary.ignored++;
    } catch {
      summary.invalid++;
    }
  }
  if (dryRun) {
    const { rows } = await pool.query<{ i: number }>(
      `SELECT k.i::int AS i FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS k(event_id, time, i)
       WHERE EXISTS (SELECT 1 FROM audit_logs a WHERE a.event_id = k.event_id AND a.time = k.time)`,
      [entries.map((e) => e.event_id), entries.map((e) => e.time)],
    );
    summary.skipped_as_duplicate += rows.length;
    summary.applied += entries.length - rows.length;
    return;
  }
  // The recorder writes what arrives together in one transaction, in this order.
  const outcomes = await Promise.all(entries.map((entry) => record(entry)));
  for (const outcome of outcomes) {
    if (outcome === 'inserted') summary.applied++;
    else summary.skipped_as_duplicate++;
  }
}

async function replaySync(
  pool: Pool,
  events: Envelope[],
  dryRun: boolean,
  historySize: number,
  summary: ReplaySummary,
) {
  const synced: SyncedEvent[] = [];
  for (const event of events) {
    const name = eventName(event.type);
    if (!name || !SYNCED.has(name)) {
      summary.ignored++;
      continue;
    }
    if (!EventSchemas[name].safeParse(event).success) {
      summary.invalid++;
      continue;
    }
    synced.push(event as unknown as SyncedEvent);
  }
  if (dryRun) {
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM sync_inbox WHERE event_id = ANY($1::text[])',
      [synced.map((e) => e.id)],
    );
    const present = rows[0]?.n ?? 0;
    summary.skipped_as_duplicate += present;
    summary.applied += synced.length - present;
    return;
  }
  // One user's events in log order, one call per event (storeEvents takes one event per user per call).
  for (const event of synced) {
    const stored = await storeEvents(pool, [event], historySize);
    if (stored.get(event.id)?.created) summary.applied++;
    else summary.skipped_as_duplicate++;
  }
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
