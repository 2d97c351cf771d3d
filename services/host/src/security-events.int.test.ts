import { randomUUID } from 'node:crypto';
import { createAuditService } from '@taskstream/audit';
import { storeDeadLetter } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from '@taskstream/task-api';

/**
 * Security-relevant actions reach the audit trail the way task events do (security-events →
 * audit_logs, one hash chain), each with actor, client address and user agent.
 */
let rt: TestRuntime;
beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService, createAuditService], {
    env: { SEED_DEMO_USERS: 'true' },
  });
}, 60_000);
afterAll(async () => rt?.close());

interface Row {
  action: string;
  actor: string | null;
  task_id: string | null;
  payload: Record<string, unknown>;
}
const rowsOf = async (action: string, subjectEmail?: string) =>
  (
    await rt.pool.query<Row>(
      `SELECT action, actor, task_id, payload FROM audit_logs
       WHERE action = $1 AND ($2::text IS NULL OR payload->>'email' = $2) ORDER BY id`,
      [action, subjectEmail ?? null],
    )
  ).rows;

describe('security events in the audit trail', () => {
  it('records login failure and success, registration, password change, DLQ actions and exports', async () => {
    const from = (address: string, agent: string) => ({ 'x-forwarded-for': address, 'user-agent': agent });
    const email = `sec-${randomUUID()}@example.com`;
    const registered = await rt.request('POST', '/api/auth/register', {
      body: { email, password: 'first-passphrase', name: 'Sec' },
      headers: from('203.0.113.1', 'agent-register'),
    });
    expect(registered.status).toBe(202);
    const failed = await rt.request('POST', '/api/auth/login', {
      body: { email, password: 'wrong-passphrase' },
      headers: from('203.0.113.2', 'agent-fail'),
    });
    expect(failed.status).toBe(401);
    const unknown = `nobody-${randomUUID()}@example.com`;
    await rt.request('POST', '/api/auth/login', {
      body: { email: unknown, password: 'wrong-passphrase' },
      headers: from('203.0.113.3', 'agent-unknown'),
    });
    const ok = await rt.request('POST', '/api/auth/login', {
      body: { email, password: 'first-passphrase' },
      headers: from('203.0.113.4', 'agent-ok'),
    });
    expect(ok.status).toBe(200);
    const userId = ok.body.user.id as string;
    const changed = await rt.request('POST', '/api/auth/password', {
      token: ok.body.token,
      body: { current_password: 'first-passphrase', new_password: 'second-passphrase' },
      headers: from('203.0.113.5', 'agent-change'),
    });
    expect(changed.status).toBe(204);

    const admin = await rt.request('POST', '/api/auth/login', {
      body: { email: 'admin@example.com', password: 'admin-password' },
    });
    const adminId = admin.body.user.id as string;
    const letter = {
      specversion: '1.0' as const,
      id: randomUUID(),
      type: 'x',
      source: 's',
      time: new Date().toISOString(),
      data: {},
    };
    await storeDeadLetter(
      rt.pool,
      'task-events.dlq',
      { ...letter, deadletterreason: 'test', deadletterconsumer: 'audit' },
      'k',
    );
    const { rows } = await rt.pool.query('SELECT id::text AS id FROM dead_letters WHERE event_id = $1', [
      letter.id,
    ]);
    const discard = await rt.request('POST', `/api/admin/dlq/${rows[0].id}/discard`, {
      token: admin.body.token,
      body: { reason: 'a test letter' },
      headers: from('203.0.113.6', 'agent-admin'),
    });
    expect(discard.status).toBe(204);
    const replay = await rt.request('POST', '/api/admin/dlq/replay?topic=task-events', {
      token: admin.body.token,
      headers: from('203.0.113.6', 'agent-admin'),
    });
    expect(replay.status).toBe(202);
    const exported = await rt.request('GET', '/api/audit-logs/export?format=csv', {
      token: ok.body.token,
      headers: from('203.0.113.7', 'agent-export'),
    });
    expect(exported.status).toBe(200);

    const seen = await eventually(async () => {
      const found = {
        registered: await rowsOf('auth.registered', email),
        failed: await rowsOf('auth.login_failed', email),
        unknown: await rowsOf('auth.login_failed', unknown),
        succeeded: await rowsOf('auth.login_succeeded', email),
        changed: (await rowsOf('auth.password_changed')).filter((r) => r.actor === userId),
        discarded: (await rowsOf('admin.dlq_discarded')).filter(
          (r) => r.payload.dead_letter_id === rows[0].id,
        ),
        replayed: (await rowsOf('admin.dlq_replayed')).filter((r) => r.actor === adminId),
        exported: (await rowsOf('audit.exported')).filter((r) => r.actor === userId),
      };
      return Object.values(found).every((r) => r.length === 1) ? found : undefined;
    });
    const at = (address: string, agent: string) => ({ client_address: address, user_agent: agent });
    expect(seen.registered[0]).toMatchObject({
      actor: userId,
      task_id: null,
      payload: { email, outcome: 'created', by: 'self', ...at('203.0.113.1', 'agent-register') },
    });
    expect(seen.failed[0]).toMatchObject({
      actor: userId,
      payload: { email, reason: 'wrong_credentials', ...at('203.0.113.2', 'agent-fail') },
    });
    expect(seen.unknown[0]).toMatchObject({ actor: null, payload: at('203.0.113.3', 'agent-unknown') });
    expect(seen.succeeded[0]).toMatchObject({ actor: userId, payload: at('203.0.113.4', 'agent-ok') });
    expect(seen.changed[0]).toMatchObject({ payload: at('203.0.113.5', 'agent-change') });
    expect(seen.discarded[0]).toMatchObject({
      actor: adminId,
      payload: { reason: 'a test letter', ...at('203.0.113.6', 'agent-admin') },
    });
    expect(seen.replayed[0]).toMatchObject({ payload: { topic: 'task-events', replayed: 0 } });
    expect(seen.exported[0]).toMatchObject({
      payload: { format: 'csv', ...at('203.0.113.7', 'agent-export') },
    });

    // The user sees their own security events; the chain still holds.
    const own = await rt.request('GET', '/api/audit-logs?event_type=auth.login_succeeded', {
      token: ok.body.token,
    });
    expect(own.status).toBe(200);
    expect(own.body.items).toHaveLength(1);
    const verified = await rt.request('GET', '/api/audit-logs/verify', { token: admin.body.token });
    expect(verified.body).toMatchObject({ ok: true, first_broken: null });
  }, 120_000);
});
