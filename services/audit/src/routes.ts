import { AuditExportQuery, AuditLogQuery, AuditVerifyQuery } from '@taskstream/contracts';
import {
  type Auth,
  type Logger,
  type Pool,
  parse,
  principalOf,
  type SecurityAudit,
} from '@taskstream/platform';
import { type Request, type Response, Router } from 'express';
import {
  type AuditLog,
  fetchPage,
  fetchRows,
  type Position,
  positionOf,
  selectionOf,
  toAuditLog,
} from './query.js';
import { verifyChain } from './verify.js';

const EXPORT_BATCH = 500;

export const CSV_COLUMNS = [
  'id',
  'event_id',
  'time',
  'actor',
  'action',
  'task_id',
  'changes',
  'trace_id',
  'source',
  'payload',
  'hash',
  // Added later (ADR 0025): at the end, so that the earlier columns keep their positions.
  'actor_email',
  'task_title',
] as const;

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; objects as JSON. */
export function csvField(value: unknown): string {
  const text =
    value === null || value === undefined
      ? ''
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvLine = (log: AuditLog) => `${CSV_COLUMNS.map((c) => csvField(log[c])).join(',')}\r\n`;

/** Waits until the response can take more, or the client went away (then returns false). */
function drained(res: Response): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export function auditRoutes(options: {
  pool: Pool;
  auth: Auth;
  logger: Logger;
  audit: SecurityAudit;
}): Router {
  const { pool, auth, audit } = options;
  const routes = Router();

  routes.get('/api/audit-logs', auth.requireUser, async (req: Request, res: Response) => {
    const query = parse(AuditLogQuery, req.query, 'query');
    const selection = selectionOf(principalOf(req), query);
    res.json(await fetchPage(pool, selection, query.cursor, query.limit));
  });

  /**
   * Streams the selection newest first in keyset batches (no snapshot is held open and nothing
   * is buffered beyond one batch), respecting back-pressure. A failure after the first bytes
   * aborts the connection, so a cut-off export never looks complete.
   */
  routes.get('/api/audit-logs/export', auth.requireUser, async (req: Request, res: Response) => {
    const query = parse(AuditExportQuery, req.query, 'query');
    const selection = selectionOf(principalOf(req), query);
    const csv = query.format === 'csv';
    const first = await fetchRows(pool, selection, undefined, EXPORT_BATCH);
    const { format, ...filters } = query;
    await audit(req, {
      action: 'audit.exported',
      actor: principalOf(req).userId,
      payload: { format, filters },
    });
    res.status(200);
    res.setHeader('content-type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="audit-logs.${csv ? 'csv' : 'ndjson'}"`);
    res.setHeader('cache-control', 'no-store');
    try {
      if (csv && !res.write(`${CSV_COLUMNS.join(',')}\r\n`) && !(await drained(res))) return;
      let batch = first;
      for (;;) {
        for (const row of batch) {
          const log = toAuditLog(row);
          const line = csv ? csvLine(log) : `${JSON.stringify(log)}\n`;
          if (!res.write(line) && !(await drained(res))) return;
        }
        if (batch.length < EXPORT_BATCH) break;
        const after: Position = positionOf(batch[batch.length - 1]!);
        batch = await fetchRows(pool, selection, after, EXPORT_BATCH);
      }
      res.end();
    } catch (err) {
      req.log.error({ err }, 'audit export failed midway; connection aborted');
      res.destroy(err as Error);
    }
  });

  routes.get(
    '/api/audit-logs/verify',
    auth.requireUser,
    auth.requireAdmin,
    async (req: Request, res: Response) => {
      const query = parse(AuditVerifyQuery, req.query, 'query');
      const outcome = await verifyChain(pool, query);
      if (!outcome.ok)
        req.log.warn(
          { first_broken: outcome.first_broken, reason: outcome.reason },
          'audit chain check failed',
        );
      res.json({ ok: outcome.ok, checked: outcome.checked, first_broken: outcome.first_broken });
    },
  );

  return routes;
}
