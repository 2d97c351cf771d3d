import type { Router } from 'express';
import type { Logger } from 'pino';
import type { JobScheduler, JobSpec, JobTrigger } from '../ports.js';
import { type SidecarClient, SidecarError } from './sidecar-client.js';

/** How the scheduler retries a trigger the app failed (Dapr's JobFailurePolicy, JSON form). */
export type JobFailurePolicy =
  | { constant: { interval: string; maxRetries?: number } }
  | { drop: Record<string, never> };

export interface DaprJobSchedulerOptions {
  sidecar: SidecarClient;
  router: Router;
  logger: Logger;
  /** Default: every 10 s for 5 minutes (Dapr's own default gives up after 3 s). */
  failurePolicy?: JobFailurePolicy;
}

const DEFAULT_FAILURE_POLICY: JobFailurePolicy = { constant: { interval: '10s', maxRetries: 30 } };

/**
 * JobScheduler on the Dapr Jobs API over HTTP (`/v1.0/jobs/<name>`; the JS SDK 3.18 has no jobs
 * client). Jobs live in the Dapr scheduler's etcd, so they survive app and sidecar restarts; the
 * sidecar calls `POST /job/<name>` when one is due, and a non-2xx answer makes it try again per
 * the failure policy.
 *
 * The job's data travels wrapped as `{"data": ...}`: the sidecar posts the data as the request
 * body, and a bare string, number or null is not a body every JSON parser accepts.
 */
export function createDaprJobScheduler(options: DaprJobSchedulerOptions): JobScheduler {
  const { sidecar, router, logger } = options;
  const handlers: { prefix: string; handle: (trigger: JobTrigger) => Promise<void> }[] = [];
  let stopping = false;
  const jobPath = (name: string) => `/v1.0/jobs/${encodeURIComponent(name)}`;

  router.post('/job/*name', async (req, res) => {
    const name = ([] as string[]).concat(req.params.name as string | string[]).join('/');
    if (stopping) {
      res.status(503).json({ error: { code: 'stopping', message: 'shutting down; try later', details: {} } });
      return;
    }
    const match = handlers
      .filter((h) => name.startsWith(h.prefix))
      .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (!match) {
      logger.warn({ job: name }, 'job fired with no handler for its name; the scheduler will try again');
      res
        .status(404)
        .json({ error: { code: 'no_handler', message: `no handler for job ${name}`, details: {} } });
      return;
    }
    try {
      await match.handle({ name, data: unwrap(req.body) });
      res.status(204).end();
    } catch (err) {
      logger.warn({ err, job: name }, 'job handler failed; the scheduler will try again');
      res.status(500).json({
        error: {
          code: 'job_failed',
          message: err instanceof Error ? err.message : String(err),
          details: {},
        },
      });
    }
  });

  return {
    async schedule(job: JobSpec) {
      const body = {
        dueTime: job.dueTime,
        schedule: job.schedule,
        repeats: job.repeats,
        ttl: job.ttl,
        data: { data: job.data ?? null },
        // Scheduling a name again replaces that job (Dapr refuses a duplicate name otherwise).
        overwrite: true,
        failurePolicy: options.failurePolicy ?? DEFAULT_FAILURE_POLICY,
      };
      const response = await sidecar.request(jobPath(job.name), { method: 'POST', body });
      if (response.status >= 300)
        throw new SidecarError(response.status, response.body, `schedule job ${job.name}`);
    },

    async get(name) {
      const response = await sidecar.request(jobPath(name));
      if (isNotFound(response.status, response.body)) return undefined;
      if (response.status !== 200) throw new SidecarError(response.status, response.body, `get job ${name}`);
      const job = response.body as JobSpec & { data?: { value?: unknown } };
      // GET returns the data as a protobuf Any: {"@type": "...Value", "value": <our wrapper>}.
      return {
        name,
        ...(job.dueTime !== undefined && { dueTime: job.dueTime }),
        ...(job.schedule !== undefined && { schedule: job.schedule }),
        ...(job.repeats !== undefined && { repeats: job.repeats }),
        ...(job.ttl !== undefined && { ttl: job.ttl }),
        data: unwrap(job.data?.value),
      };
    },

    async delete(name) {
      const response = await sidecar.request(jobPath(name), { method: 'DELETE' });
      if (response.status >= 300 && !isNotFound(response.status, response.body)) {
        throw new SidecarError(response.status, response.body, `delete job ${name}`);
      }
    },

    onTrigger(prefix, handle) {
      handlers.push({ prefix, handle });
    },

    async start() {
      stopping = false;
    },

    async stop() {
      stopping = true;
    },
  };
}

function unwrap(body: unknown): unknown {
  if (body && typeof body === 'object' && !Array.isArray(body) && 'data' in body)
    return (body as { data: unknown }).data;
  return body ?? undefined;
}

/** Dapr 1.18 answers a missing job with 500 and the scheduler's gRPC NotFound in the message. */
function isNotFound(status: number, body: unknown) {
  return status === 404 || (status >= 400 && /NotFound|not found/.test(JSON.stringify(body ?? '')));
}
