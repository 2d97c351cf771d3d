import type { Envelope, ServiceFactory } from '@taskstream/platform';
import {
  eventually,
  startTestRuntime,
  type TestDatabase,
  type TestRuntime,
} from '@taskstream/platform/test-support';
import { createAuditService } from '../index.js';
import { onTaskEvents } from './events.js';

/** The audit service (and `also`) on a database of its own, or on `database` to restart on the same data. */
export async function startAudit(
  options: { env?: Record<string, string>; also?: ServiceFactory[]; database?: TestDatabase } = {},
) {
  return startTestRuntime([createAuditService, ...(options.also ?? [])], {
    env: options.env,
    database: options.database,
  });
}

/** Publishes events on task-events, each under its user's partition key, in the order given. */
export async function publish(rt: TestRuntime, events: Envelope[]) {
  for (let i = 0; i < events.length; i += 200)
    await rt.ports.bus.publish(events.slice(i, i + 200).map(onTaskEvents));
}

export async function rowCount(rt: TestRuntime): Promise<number> {
  return (await rt.pool.query('SELECT count(*)::int AS n FROM audit_logs')).rows[0].n;
}

/** The audit service's counter of handled events by result, read from /metrics. */
export async function handled(rt: TestRuntime, result: 'inserted' | 'duplicate'): Promise<number> {
  const text: string = (await rt.request('GET', '/metrics')).body;
  const match = new RegExp(`^taskstream_audit_events_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Waits until `inserted` rows were written and `duplicates` redeliveries were seen and skipped. */
export async function settled(rt: TestRuntime, inserted: number, duplicates = 0, timeoutMs = 30000) {
  await eventually(
    async () => (await handled(rt, 'inserted')) >= inserted && (await handled(rt, 'duplicate')) >= duplicates,
    timeoutMs,
  );
}

export const tokenFor = (rt: TestRuntime, userId: string, role: 'user' | 'admin' = 'user') =>
  rt.auth.sign({ userId, role });
