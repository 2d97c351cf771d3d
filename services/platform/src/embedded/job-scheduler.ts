import { makeWorkerUtils, type Runner, run, Logger as WorkerLogger, type WorkerUtils } from 'graphile-worker';
import { type Pool, type PoolClient, withTransaction } from '../db.js';
import type { Logger } from '../logger.js';
import type { JobScheduler, JobSpec, JobTrigger } from '../ports.js';
import { nextScheduleTime, parseTimeOrDuration } from '../schedule.js';

const TASK = 'taskstream_job';
/** graphile-worker retries a failing trigger with its exponential backoff, this many times. */
const MAX_ATTEMPTS = 25;
/** graphile-worker's own poll, a safety net: the normal path is a timer armed for the next due job. */
const FALLBACK_POLL_MS = 1000;

/** What the graphile-worker job carries: which job, and for which scheduling of it. */
interface TriggerPayload {
  name: string;
  revision: number;
}

interface JobRow {
  name: string;
  spec: JobSpec;
  revision: number;
  remaining: number | null;
  next_run_at: Date;
  expires_at: Date | null;
}

export interface EmbeddedJobSchedulerOptions {
  pool: Pool;
  logger: Logger;
  /** How often graphile-worker looks for due jobs when nothing woke it (ms). */
  pollIntervalMs?: number;
  concurrency?: number;
}

/**
 * JobScheduler on graphile-worker. A job is a row of `scheduled_jobs` (what `get` returns) and one
 * graphile-worker job whose `job_key` is the name, written in one transaction through
 * graphile-worker's SQL API: scheduling a name again replaces both, deleting removes both, and
 * both survive restarts. A trigger carries the revision it was made for, so a run of a job that
 * was replaced or deleted meanwhile does nothing. A failing trigger is retried with
 * graphile-worker's backoff (at least once). Repeating jobs (`schedule`) enqueue their next run
 * when a run succeeds.
 *
 * Due jobs are picked up by a local timer armed for the soonest due job, which notifies
 * graphile-worker's `jobs:insert` channel (its own wake-up); its poll is only the safety net.
 */
export function createEmbeddedJobScheduler(options: EmbeddedJobSchedulerOptions): JobScheduler {
  const { pool, logger } = options;
  const log = logger.child({ component: 'job-scheduler' });
  const handlers: { prefix: string; handle: (t: JobTrigger) => Promise<void> }[] = [];
  let utils: WorkerUtils | undefined;
  let migrated: Promise<void> | undefined;
  let runner: Runner | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt: number | undefined;
  const workerLogger = new WorkerLogger((scope) => (level, message, meta) => {
    if (level === 'error' || level === 'warning')
      log.warn({ scope: scope.label, ...meta }, `job worker: ${message}`);
  });

  async function workerUtils() {
    utils ??= await makeWorkerUtils({ pgPool: pool, logger: workerLogger });
    return utils;
  }

  /** graphile-worker's schema must exist before its SQL API is used (also before start()). */
  function ensureMigrated() {
    migrated ??= workerUtils()
      .then((u) => u.migrate())
      .catch((err) => {
        migrated = undefined;
        throw err;
      });
    return migrated;
  }

  async function enqueue(client: PoolClient, payload: TriggerPayload, runAt: Date) {
    await client.query(
      `SELECT graphile_worker.add_job($1, $2::json, run_at => $3, max_attempts => $4, job_key => $5, job_key_mode => 'replace')`,
      [TASK, JSON.stringify(payload), runAt, MAX_ATTEMPTS, payload.name],
    );
  }

  /** Arms the wake-up timer for the soonest job that is waiting to run. */
  async function armWakeUp() {
    if (!runner) return;
    // Index-backed (scheduled_jobs_next_run): this runs after every job. Jobs already due are
    // graphile-worker's own business; a failed run waiting for its retry is found by the poll.
    const { rows } = await pool.query<{ at: Date | null }>(
      'SELECT min(next_run_at) AS at FROM scheduled_jobs WHERE next_run_at > now()',
    );
    const at = rows[0]?.at?.getTime();
    if (at === undefined || !runner) return;
    armAt(at);
  }

  /** Arms the timer for `at` unless an earlier wake-up is armed already. */
  function armAt(at: number) {
    if (wakeAt !== undefined && wakeAt <= at && wakeTimer) return; // an earlier wake-up is armed
    clearTimeout(wakeTimer);
    wakeAt = at;
    // A few ms late: run_at has microseconds, and graphile-worker takes jobs with run_at <= now().
    wakeTimer = setTimeout(
      () => {
        wakeTimer = undefined;
        wakeAt = undefined;
        pool
          .query(`SELECT pg_notify('jobs:insert', '{"count":1}')`)
          .then(() => armWakeUp())
          .catch((err) => log.warn({ err }, 'job wake-up failed; the poll will find the job'));
      },
      Math.max(0, at - Date.now() + 5),
    );
    wakeTimer.unref?.();
  }

  function rearm() {
    armWakeUp().catch((err) => log.warn({ err }, 'could not arm the job wake-up timer'));
  }

  async function trigger(payload: TriggerPayload) {
    const { rows } = await pool.query<JobRow>(
      'SELECT * FROM scheduled_jobs WHERE name = $1 AND revision = $2',
      [payload.name, payload.revision],
    );
    const job = rows[0];
    if (!job) return; // replaced or deleted since this run was enqueued
    const { spec } = job;
    if (job.expires_at && Date.now() >= job.expires_at.getTime()) {
      await pool.query('DELETE FROM scheduled_jobs WHERE name = $1 AND revision = $2', [
        job.name,
        job.revision,
      ]);
      return;
    }
    const match = handlers
      .filter((h) => spec.name.startsWith(h.prefix))
      .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (!match) throw new Error(`no handler for job ${spec.name}`);
    await match.handle({ name: spec.name, data: spec.data });

    // The run succeeded. A one-off job is done (unless replaced meanwhile: the new one stands).
    if (!spec.schedule) {
      await pool.query('DELETE FROM scheduled_jobs WHERE name = $1 AND revision = $2', [
        job.name,
        job.revision,
      ]);
      return;
    }
    // A repeating job: its next run, or it is done.
    await withTransaction(pool, async (client) => {
      const { rows: current } = await client.query<JobRow>(
        'SELECT * FROM scheduled_jobs WHERE name = $1 AND revision = $2 FOR UPDATE',
        [job.name, job.revision],
      );
      const now = current[0];
      if (!now) return; // replaced or deleted while the handler ran: the new job stands
      const remaining = now.remaining === null ? null : now.remaining - 1;
      const next = spec.schedule ? nextRun(spec.schedule, now.next_run_at, new Date()) : undefined;
      const expired = next && now.expires_at && next.getTime() >= now.expires_at.getTime();
      if (!next || expired || (remaining !== null && remaining <= 0)) {
        await client.query('DELETE FROM scheduled_jobs WHERE name = $1', [job.name]);
        return;
      }
      await client.query(
        'UPDATE scheduled_jobs SET remaining = $2, next_run_at = $3, runs = runs + 1, updated_at = now() WHERE name = $1',
        [job.name, remaining, next],
      );
      await enqueue(client, payload, next);
    });
  }

  return {
    async schedule(spec) {
      const now = new Date();
      const runAt = spec.dueTime
        ? parseTimeOrDuration(spec.dueTime, now)
        : spec.schedule
          ? nextScheduleTime(spec.schedule, now)
          : now;
      const expiresAt = spec.ttl ? parseTimeOrDuration(spec.ttl, now) : null;
      if (spec.repeats !== undefined && (!Number.isInteger(spec.repeats) || spec.repeats < 1))
        throw new Error(`job ${spec.name}: repeats must be a positive integer`);
      await ensureMigrated();
      await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ revision: number }>(
          `INSERT INTO scheduled_jobs (name, spec, remaining, next_run_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, revision = nextval('scheduled_jobs_revision_seq'),
             remaining = EXCLUDED.remaining, next_run_at = EXCLUDED.next_run_at, expires_at = EXCLUDED.expires_at,
             runs = 0, updated_at = now()
           RETURNING revision`,
          [spec.name, JSON.stringify(spec), spec.repeats ?? null, runAt, expiresAt],
        );
        await enqueue(client, { name: spec.name, revision: rows[0]!.revision }, runAt);
      });
      // No query: a new job can only make the next wake-up earlier.
      if (runner && runAt.getTime() > Date.now()) armAt(runAt.getTime());
    },

    async get(name) {
      const { rows } = await pool.query<{ spec: JobSpec }>(
        'SELECT spec FROM scheduled_jobs WHERE name = $1',
        [name],
      );
      return rows[0]?.spec;
    },

    async delete(name) {
      await ensureMigrated();
      await withTransaction(pool, async (client) => {
        await client.query('DELETE FROM scheduled_jobs WHERE name = $1', [name]);
        await client.query('SELECT graphile_worker.remove_job($1)', [name]);
      });
    },

    onTrigger(prefix, handle) {
      handlers.push({ prefix, handle });
    },

    async start() {
      if (runner) return;
      await ensureMigrated();
      runner = await run({
        pgPool: pool,
        concurrency: options.concurrency ?? 8,
        pollInterval: options.pollIntervalMs ?? FALLBACK_POLL_MS,
        noHandleSignals: true,
        logger: workerLogger,
        taskList: { [TASK]: async (payload) => trigger(payload as TriggerPayload) },
      });
      // After every run (a repeat enqueued, a failure waiting for its retry), arm for what is next.
      runner.events.on('job:complete', rearm);
      rearm();
    },

    async stop() {
      const r = runner;
      runner = undefined;
      clearTimeout(wakeTimer);
      wakeTimer = undefined;
      wakeAt = undefined;
      await r?.stop();
      await utils?.release();
      utils = undefined;
      migrated = undefined;
    },
  };
}

/**
 * The run after `previous` (the due time of the run that just happened): `@every` counts from
 * the previous due time so runs do not drift; a run missed while the process was down happens
 * once, now, rather than in a burst.
 */
function nextRun(schedule: string, previous: Date, now: Date): Date {
  const next = nextScheduleTime(schedule, previous);
  return next.getTime() < now.getTime() ? now : next;
}
