import { Logger as WorkerLogger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker';
import type { Pool } from '../db.js';
import type { Logger } from '../logger.js';
import type { JobScheduler, JobSpec, JobTrigger } from '../ports.js';
import { nextScheduleTime, parseTimeOrDuration } from '../schedule.js';

const TASK = 'taskstream_job';

interface StoredJob {
  spec: JobSpec;
  /** Runs left, when `repeats` was given. */
  remaining?: number;
  expiresAt?: string;
}

export interface EmbeddedJobSchedulerOptions {
  pool: Pool;
  logger: Logger;
  /** How often graphile-worker looks for jobs that became due (ms). */
  pollIntervalMs?: number;
  concurrency?: number;
}

/**
 * JobScheduler on graphile-worker: a job name is its `job_key` (scheduling again replaces it),
 * jobs are rows in PostgreSQL so they survive restarts, and a failing trigger is retried with
 * graphile-worker's backoff (at least once).
 */
export function createEmbeddedJobScheduler(options: EmbeddedJobSchedulerOptions): JobScheduler {
  const { pool, logger } = options;
  const handlers: { prefix: string; handle: (t: JobTrigger) => Promise<void> }[] = [];
  let utils: WorkerUtils | undefined;
  let runner: Runner | undefined;
  const workerLogger = new WorkerLogger((scope) => (level, message, meta) => {
    if (level === 'error' || level === 'warning') logger.warn({ scope: scope.label, ...meta }, `job worker: ${message}`);
  });

  async function workerUtils() {
    utils ??= await makeWorkerUtils({ pgPool: pool, logger: workerLogger });
    return utils;
  }

  async function enqueue(stored: StoredJob, runAt: Date) {
    const u = await workerUtils();
    await u.addJob(TASK, stored as never, { jobKey: stored.spec.name, jobKeyMode: 'replace', runAt, maxAttempts: 25 });
  }

  async function trigger(stored: StoredJob) {
    const { spec } = stored;
    if (stored.expiresAt && Date.now() > Date.parse(stored.expiresAt)) return;
    const match = handlers
      .filter((h) => spec.name.startsWith(h.prefix))
      .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (!match) throw new Error(`no handler for job ${spec.name}`);
    await match.handle({ name: spec.name, data: spec.data });
    if (!spec.schedule) return;
    const remaining = stored.remaining === undefined ? undefined : stored.remaining - 1;
    if (remaining !== undefined && remaining <= 0) return;
    const next = nextScheduleTime(spec.schedule, new Date());
    await enqueue({ ...stored, remaining }, next);
  }

  return {
    async schedule(spec) {
      const now = new Date();
      const runAt = spec.dueTime
        ? parseTimeOrDuration(spec.dueTime, now)
        : spec.schedule
          ? nextScheduleTime(spec.schedule, now)
          : now;
      const expiresAt = spec.ttl ? parseTimeOrDuration(spec.ttl, now).toISOString() : undefined;
      await enqueue({ spec, remaining: spec.repeats, expiresAt }, runAt);
    },

    async get(name) {
      const { rows } = await pool.query(
        'SELECT payload FROM graphile_worker.jobs WHERE key = $1 AND task_identifier = $2 LIMIT 1',
        [name, TASK],
      );
      return rows[0] ? (rows[0].payload as StoredJob).spec : undefined;
    },

    async delete(name) {
      await (await workerUtils()).withPgClient((client) => client.query('SELECT graphile_worker.remove_job($1)', [name]));
    },

    onTrigger(prefix, handle) {
      handlers.push({ prefix, handle });
    },

    async start() {
      await (await workerUtils()).migrate();
      runner = await run({
        pgPool: pool,
        concurrency: options.concurrency ?? 16,
        pollInterval: options.pollIntervalMs ?? 200,
        noHandleSignals: true,
        logger: workerLogger,
        taskList: { [TASK]: async (payload) => trigger(payload as StoredJob) },
      });
    },

    async stop() {
      await runner?.stop();
      runner = undefined;
      await utils?.release();
      utils = undefined;
    },
  };
}

