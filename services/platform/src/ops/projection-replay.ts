import { ProjectionReplayBody } from '@taskstream/contracts';
import { Router } from 'express';
import { type Auth, principalOf } from '../auth.js';
import type { Pool } from '../db.js';
import { conflict, HttpError } from '../errors.js';
import { parse } from '../http.js';
import type { Envelope } from '../ports.js';
import type { SecurityAudit } from '../security-audit.js';

/**
 * Rebuilding a projection from the kept log of published events (EVENT_LOG_RETENTION_DAYS): the
 * embedded event log, or under Dapr the outbox's published rows. The reading is here, shared by
 * `npm run replay` and the admin endpoints; what an event does to a projection is its service's
 * (audit, sync), given as `apply`. Each projection checks its own inbox, so a second run applies
 * nothing (ADR 0024).
 */
export type Projection = 'audit' | 'sync';

export interface ReplaySummary {
  projection: Projection;
  dry_run: boolean;
  /** Log rows read. */
  read: number;
  /** Events the projection got (or, dry run, would get). */
  applied: number;
  /** Events the projection already held. */
  skipped_as_duplicate: number;
  /** Events the projection does not record (other types). */
  ignored: number;
  /** Events that break their schema. */
  invalid: number;
  /** Log rows after the last one read (0 when the log was read to its end). */
  remaining: number;
  /** The log position to continue from when `limit` stopped the run; null when done. */
  next_from: string | null;
}

/** Applies (or, dry run, counts) one batch of events in log order, adding to the summary. */
export type ReplayApply = (events: Envelope[], dryRun: boolean, summary: ReplaySummary) => Promise<void>;

export interface ReplayLogOptions {
  projection: Projection;
  /** The topic whose published events feed the projection. */
  topic: string;
  apply: ReplayApply;
  /** ISO-8601 time or log position; everything when absent. */
  from?: string;
  dryRun?: boolean;
  batchSize?: number;
  /** Log rows read at most; the summary's `next_from` continues. Unbounded when absent. */
  limit?: number;
  /** Called after each batch with rows read so far and the total from `from` on. */
  onProgress?: (done: number, total: number) => void;
}

export class InvalidReplayFromError extends Error {}
export class ReplayBusyError extends Error {}

export function parseFrom(from: string | undefined): { position?: number; time?: Date } {
  if (from === undefined) return {};
  if (/^\d+$/.test(from)) return { position: Number(from) };
  const time = new Date(from);
  if (!/^\d{4}-\d{2}-\d{2}/.test(from) || Number.isNaN(time.getTime())) {
    throw new InvalidReplayFromError(
      `--from must be an ISO-8601 time or a log position, not ${JSON.stringify(from)}`,
    );
  }
  return { time };
}

export async function replayLog(pool: Pool, options: ReplayLogOptions): Promise<ReplaySummary> {
  const dryRun = options.dryRun ?? false;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const { position, time } = parseFrom(options.from);
  const summary: ReplaySummary = {
    projection: options.projection,
    dry_run: dryRun,
    read: 0,
    applied: 0,
    skipped_as_duplicate: 0,
    ignored: 0,
    invalid: 0,
    remaining: 0,
    next_from: null,
  };

  // The embedded event log holds exactly what was published; an outbox also what waits.
  const embedded = (await pool.query(`SELECT to_regclass('event_log') IS NOT NULL AS ok`)).rows[0].ok;
  const source = embedded ? 'event_log' : 'outbox';
  const where = `topic = $1 ${embedded ? '' : 'AND published_at IS NOT NULL'} AND ($2::bigint IS NULL OR id >= $2) AND ($3::timestamptz IS NULL OR created_at >= $3)`;
  const params = [options.topic, position ?? null, time ?? null];
  const count = async (after: number) =>
    (
      await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${source} WHERE ${where} AND id > $4`, [
        ...params,
        after,
      ])
    ).rows[0]?.n ?? 0;
  const total = await count(0);
  options.onProgress?.(0, total);

  let after = 0;
  while (summary.read < limit) {
    const { rows } = await pool.query<{ id: number; event: Envelope }>(
      `SELECT id, event FROM ${source} WHERE ${where} AND id > $4 ORDER BY id LIMIT $5`,
      [...params, after, Math.min(options.batchSize ?? 500, limit - summary.read)],
    );
    if (rows.length === 0) break;
    after = Number(rows[rows.length - 1]!.id);
    summary.read += rows.length;
    await options.apply(
      rows.map((r) => r.event),
      dryRun,
      summary,
    );
    options.onProgress?.(summary.read, total);
  }
  if (summary.read >= limit) {
    summary.remaining = await count(after);
    if (summary.remaining > 0) summary.next_from = String(after + 1);
  }
  return summary;
}

/**
 * Runs `fn` while holding the projection's replay lock (a PostgreSQL advisory lock, so across
 * replicas); a second run meanwhile gets ReplayBusyError instead of waiting.
 */
export async function withReplayLock<T>(
  pool: Pool,
  projection: Projection,
  fn: () => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    const key = `taskstream_replay_${projection}`;
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
      key,
    ]);
    if (!rows[0]?.ok)
      throw new ReplayBusyError(`a replay of the ${projection} projection is already running`);
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    }
  } finally {
    client.release();
  }
}

/**
 * `POST <path>`: one bounded chunk of a projection replay for an admin (ProjectionReplayBody),
 * one run at a time per projection, recorded on security-events. The owning service serves it
 * (audit, sync), where the Ingress routes its paths.
 */
export function projectionReplayRoutes(options: {
  path: string;
  pool: Pool;
  auth: Auth;
  audit: SecurityAudit;
  projection: Projection;
  topic: string;
  apply: ReplayApply;
}): Router {
  const { pool, auth, projection } = options;
  const routes = Router();
  routes.post(options.path, auth.requireUser, auth.requireAdmin, async (req, res) => {
    const body = parse(ProjectionReplayBody, req.body, 'body');
    let summary: ReplaySummary;
    try {
      summary = await withReplayLock(pool, projection, () =>
        replayLog(pool, {
          projection,
          topic: options.topic,
          apply: options.apply,
          from: body.from,
          dryRun: body.dry_run,
          limit: body.limit,
        }),
      );
    } catch (err) {
      if (err instanceof ReplayBusyError) throw conflict(err.message);
      if (err instanceof InvalidReplayFromError)
        throw new HttpError(400, 'validation_failed', `invalid body: from: ${err.message}`);
      throw err;
    }
    req.log.info({ ...summary, from: body.from ?? null }, 'projection replay chunk ran');
    await options.audit(req, {
      action: 'admin.projection_replayed',
      actor: principalOf(req).userId,
      subject: projection,
      payload: {
        projection,
        from: body.from ?? null,
        dry_run: summary.dry_run,
        read: summary.read,
        applied: summary.applied,
      },
    });
    res.json(summary);
  });
  return routes;
}
