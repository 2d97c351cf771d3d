import type { ServiceDeps } from '@taskstream/platform';

/** Hourly: Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS are deleted. */
export const IDEMPOTENCY_PRUNE_JOB = 'idempotency-key-prune';
export const IDEMPOTENCY_PRUNE_SCHEDULE = '@hourly';
/** Rows per delete statement: a backlog is removed in short transactions, not one long one. */
const PRUNE_BATCH = 5000;

/**
 * A POST /api/tasks Idempotency-Key protects against a client's retries, which come within
 * minutes; each row holds a whole response, so they are not kept forever. A key is honoured for
 * at least the TTL and gone at most an hour after it (ADR 0015).
 */
export function scheduleHousekeeping({ pool, ports, config, logger }: ServiceDeps) {
  const log = logger.child({ component: 'housekeeping' });

  async function pruneIdempotencyKeys(): Promise<number> {
    let removed = 0;
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) LIMIT $2))`,
        [config.IDEMPOTENCY_KEY_TTL_HOURS, PRUNE_BATCH],
      );
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) return removed;
    }
  }

  ports.jobs.onTrigger(IDEMPOTENCY_PRUNE_JOB, async () => {
    const removed = await pruneIdempotencyKeys();
    log.info({ ttl_hours: config.IDEMPOTENCY_KEY_TTL_HOURS, removed }, 'idempotency keys pruned');
  });

  return {
    pruneIdempotencyKeys,
    // Scheduling again replaces the job: every replica may do this at start.
    start: () => ports.jobs.schedule({ name: IDEMPOTENCY_PRUNE_JOB, schedule: IDEMPOTENCY_PRUNE_SCHEDULE }),
  };
}
