import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Config } from './config.js';
import type { Pool } from './db.js';
import { badRequest, unprocessable } from './errors.js';
import type { Logger } from './logger.js';
import type { Ports } from './ports.js';

/** What a create carries to be answered once: the client's key and a hash of its body. */
export interface IdempotencyRequest {
  key: string;
  requestHash: string;
}

/**
 * The request's `Idempotency-Key` (1 to 255 characters) with the hash of its parsed body, or
 * undefined when the header is absent and not `required`. The services keep the key with what it
 * created, in the creating transaction (task-api's tasks, payments' transactions and wallets).
 */
export function idempotencyOf(req: Request, body: unknown, options: { required: true }): IdempotencyRequest;
export function idempotencyOf(
  req: Request,
  body: unknown,
  options?: { required?: boolean },
): IdempotencyRequest | undefined;
export function idempotencyOf(
  req: Request,
  body: unknown,
  options: { required?: boolean } = {},
): IdempotencyRequest | undefined {
  const key = req.header('idempotency-key');
  if (key === undefined && !options.required) return undefined;
  if (key === undefined || key.length === 0 || key.length > 255) {
    throw badRequest(
      key === undefined
        ? 'Idempotency-Key is required: a client-chosen key (1 to 255 characters) that makes a retry safe'
        : 'Idempotency-Key must have 1 to 255 characters',
      { header: 'Idempotency-Key' },
    );
  }
  return { key, requestHash: createHash('sha256').update(JSON.stringify(body)).digest('base64url') };
}

/** A key used before with another body is a client error (422), not a replay. */
export function assertSameRequest(priorHash: string, request: IdempotencyRequest | undefined): void {
  if (priorHash !== request?.requestHash) {
    throw unprocessable('this Idempotency-Key was used with a different request body', {
      header: 'Idempotency-Key',
    });
  }
}

/** Rows per delete statement: a backlog is removed in short transactions, not one long one. */
const PRUNE_BATCH = 5000;

/**
 * Hourly, a service's Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS are deleted from
 * `table` (a `created_at` column): a key protects against a client's retries, which come within
 * minutes, and kept forever the table only grows with every create. A key is honoured for at
 * least the TTL and gone at most an hour after it (ADR 0015).
 */
export function scheduleIdempotencyPrune(
  deps: {
    pool: Pool;
    ports: Pick<Ports, 'jobs'>;
    config: Pick<Config, 'IDEMPOTENCY_KEY_TTL_HOURS'>;
    logger: Logger;
  },
  { table, job }: { table: string; job: string },
) {
  const { pool, ports, config } = deps;
  const log = deps.logger.child({ component: 'idempotency-prune', table });

  async function prune(): Promise<number> {
    let removed = 0;
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM ${table} WHERE created_at < now() - make_interval(hours => $1) LIMIT $2))`,
        [config.IDEMPOTENCY_KEY_TTL_HOURS, PRUNE_BATCH],
      );
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) return removed;
    }
  }

  ports.jobs.onTrigger(job, async () => {
    const removed = await prune();
    log.info({ ttl_hours: config.IDEMPOTENCY_KEY_TTL_HOURS, removed }, 'idempotency keys pruned');
  });

  return {
    prune,
    // Scheduling again replaces the job: every replica may do this at start.
    start: () => ports.jobs.schedule({ name: job, schedule: '@hourly' }),
  };
}
