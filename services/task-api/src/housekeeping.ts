import { type ServiceDeps, scheduleIdempotencyPrune } from '@taskstream/platform';

/** Hourly: the tasks' Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS are deleted. */
export const IDEMPOTENCY_PRUNE_JOB = 'idempotency-key-prune';

/** Each row of a POST /api/tasks Idempotency-Key holds a whole response (ADR 0015). */
export const scheduleHousekeeping = (deps: ServiceDeps) =>
  scheduleIdempotencyPrune(deps, { table: 'idempotency_keys', job: IDEMPOTENCY_PRUNE_JOB });
