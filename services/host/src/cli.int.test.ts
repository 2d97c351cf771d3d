import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditService } from '@taskstream/audit';
import { Topics } from '@taskstream/contracts';
import { type Envelope, type ServiceFactory, withReplayLock } from '@taskstream/platform';
import { eventually, signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createSyncService } from '@taskstream/sync';
import { createTaskApiService } from '@taskstream/task-api';

/**
 * The admin CLI (`taskstream`, packages/cli) as an operator runs it: a child process against a
 * running server, its token from the environment, `--json` answers read back; failures are one
 * line on stderr and a non-zero exit code, and no output ever holds a token.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the parsed --json document
  json: any;
}

let rt: TestRuntime;
let adminToken: string;
let outDir: string;
const poison = { broken: true };

/** A consumer of task-events that fails while `poison.broken`: its failures become dead letters. */
const probe: ServiceFactory = () => ({
  name: 'recurring',
  subscriptions: [
    {
      topic: Topics.taskEvents,
      consumer: 'cli-probe',
      async handler(event: Envelope) {
        if (poison.broken && event.type === 'com.taskstream.test.poison')
          throw new Error(`poisoned: ${event.id}`);
      },
    },
  ],
});

function cli(args: string[], options: { token?: string | null; stdin?: string } = {}): Promise<Run> {
  const token = options.token === undefined ? adminToken : options.token;
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args], {
    cwd: root,
    env: {
      ...process.env,
      TASKSTREAM_URL: rt.url,
      ...(token ? { TASKSTREAM_TOKEN: token } : { TASKSTREAM_TOKEN: '' }),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve) =>
    child.once('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    }),
  );
}

/** A failure: one line on stderr, nothing on stdout, and no token anywhere. */
function expectFailure(run: Run, code: number, pattern: RegExp) {
  expect(run.code).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(pattern);
  expect(run.stderr).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
}

async function poisoned(): Promise<string> {
  const event: Envelope = {
    specversion: '1.0',
    id: randomUUID(),
    type: 'com.taskstream.test.poison',
    source: '/test',
    time: new Date().toISOString(),
    data: { user_id: randomUUID() },
  };
  await rt.ports.bus.publish([{ topic: Topics.taskEvents, partitionKey: event.id, event }]);
  return eventually(async () => {
    const { rows } = await rt.pool.query<{ id: string }>(
      'SELECT id::text FROM dead_letters WHERE event_id = $1',
      [event.id],
    );
    return rows[0]?.id;
  });
}

beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService, createAuditService, createSyncService, probe], {
    env: { SEED_DEMO_USERS: 'true', RETRY_DELAYS_MS: '20,20' },
  });
  outDir = await mkdtemp(path.join(tmpdir(), 'taskstream-cli-'));
  const login = await cli(['login', '--email', 'admin@example.com', '--json'], {
    token: null,
    stdin: 'admin-password\n',
  });
  expect(login.code).toBe(0);
  adminToken = login.json.token;
  expect(login.json.user).toMatchObject({ email: 'admin@example.com', role: 'admin' });
}, 60_000);
afterAll(async () => {
  await rt?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('taskstream CLI against a running server', () => {
  it('logs in with the password on stdin; a wrong one or bad usage is one line and a non-zero exit', async () => {
    const plain = await cli(['login', '--email', 'admin@example.com'], {
      token: null,
      stdin: 'admin-password',
    });
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);

    expectFailure(
      await cli(['login', '--email', 'admin@example.com'], { token: null, stdin: 'wrong-password\n' }),
      1,
      /email or password is wrong \[HTTP 401\]/,
    );
    expectFailure(await cli(['dlq', 'list', '--colour', 'red']), 2, /Unknown option '--colour'/);
    expectFailure(await cli(['dlq', 'frobnicate']), 2, /dlq needs one of: list, show, replay, discard/);
    expectFailure(await cli(['dlq', 'list'], { token: null }), 2, /no token: set TASKSTREAM_TOKEN/);
    expectFailure(await cli(['dlq', 'list'], { token: 'not-a-jwt' }), 1, /HTTP 401/);
    expectFailure(await cli(['dlq', 'discard', '1']), 2, /--reason is required/);
    expectFailure(await cli(['audit', 'export', '--format', 'xml']), 2, /--format must be csv or ndjson/);
  });

  it('lists, shows, replays, discards (kept, with reason, actor and time) and replays a topic', async () => {
    poison.broken = true;
    const first = await poisoned();
    const second = await poisoned();

    const listed = await cli(['dlq', 'list', '--topic', Topics.taskEvents, '--status', 'pending', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.json.items.map((i: { id: string }) => i.id)).toEqual(
      expect.arrayContaining([first, second]),
    );

    const shown = await cli(['dlq', 'show', first, '--json']);
    expect(shown.json).toMatchObject({
      id: first,
      status: 'pending',
      consumer: 'cli-probe',
      status_by: null,
    });
    expect(shown.json.reason).toMatch(/^poisoned: /);
    expectFailure(await cli(['dlq', 'show', '999999999']), 1, /dead letter not found \[HTTP 404\]/);

    poison.broken = false;
    const replayed = await cli(['dlq', 'replay', first, '--json']);
    expect(replayed).toMatchObject({ code: 0, json: { id: first, replayed: true } });
    expect((await cli(['dlq', 'show', first, '--json'])).json.status).toBe('replayed');

    const admin = (await rt.request('GET', '/api/auth/me', { token: adminToken })).body.user;
    const discarded = await cli(['dlq', 'discard', second, '--reason', 'obsolete after the fix', '--json']);
    expect(discarded.code).toBe(0);
    expect(discarded.json).toMatchObject({
      id: second,
      status: 'discarded',
      status_reason: 'obsolete after the fix',
      status_by: admin.id,
    });
    expect(Date.parse(discarded.json.status_at)).toBeLessThanOrEqual(Date.now());
    // Kept, not deleted: listed among the discarded ones.
    const kept = await cli(['dlq', 'list', '--status', 'discarded', '--all', '--json']);
    expect(kept.json.items.map((i: { id: string }) => i.id)).toContain(second);
    expectFailure(await cli(['dlq', 'replay', second]), 1, /was discarded \[HTTP 409\]/);

    poison.broken = true;
    const third = await poisoned();
    poison.broken = false;
    const all = await cli(['dlq', 'replay', '--topic', Topics.taskEvents, '--json']);
    expect(all.code).toBe(0);
    expect(all.json).toEqual({ topic: Topics.taskEvents, replayed: 1 });
    expect((await cli(['dlq', 'show', third, '--json'])).json.status).toBe('replayed');

    // Recorded on the audit trail as security events.
    await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT 1 FROM audit_logs WHERE action = 'admin.dlq_discarded' AND payload->>'dead_letter_id' = $1`,
        [second],
      );
      return rows.length === 1;
    });
  });

  it('queries, exports CSV and NDJSON, and verifies the audit trail', async () => {
    const user = await signUp(rt, {
      email: `cli-${randomUUID()}@example.com`,
      password: 'cli-passphrase',
      name: 'Cli',
    });
    for (const title of ['one', 'two, "quoted"'])
      expect((await rt.request('POST', '/api/tasks', { token: user.token, body: { title } })).status).toBe(
        201,
      );
    await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT 1 FROM audit_logs WHERE actor = $1 AND action = 'task.created'`,
        [user.id],
      );
      return rows.length === 2;
    });

    const query = await cli([
      'audit',
      'query',
      '--user-id',
      user.id,
      '--event-type',
      'task.created',
      '--json',
    ]);
    expect(query.code).toBe(0);
    expect(query.json.items).toHaveLength(2);

    const csvFile = path.join(outDir, 'audit.csv');
    const csv = await cli([
      'audit',
      'export',
      '--format',
      'csv',
      '--user-id',
      user.id,
      '--out',
      csvFile,
      '--json',
    ]);
    expect(csv.code).toBe(0);
    const csvText = await readFile(csvFile, 'utf8');
    expect(csv.json).toMatchObject({ format: 'csv', out: csvFile, bytes: Buffer.byteLength(csvText) });
    expect(csv.json.rows).toBeGreaterThanOrEqual(2);
    expect(csvText.split('\r\n')[0]).toBe(
      'id,event_id,time,actor,action,task_id,changes,trace_id,source,payload,hash,actor_email,task_title',
    );

    const ndjson = await cli(['audit', 'export', '--format', 'ndjson', '--user-id', user.id]);
    expect(ndjson.code).toBe(0);
    const lines = ndjson.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(csv.json.rows);
    expect(lines.every((l) => typeof l.hash === 'string' && typeof l.action === 'string')).toBe(true);
    expectFailure(await cli(['audit', 'export', '--format', 'ndjson', '--json']), 2, /--json needs --out/);

    const verified = await cli(['audit', 'verify', '--json']);
    expect(verified.code).toBe(0);
    expect(verified.json).toMatchObject({ ok: true, first_broken: null });
    expect(verified.json.checked).toBeGreaterThan(0);
  });

  it('replays a projection in bounded chunks, idempotently, one run at a time', async () => {
    const user = await signUp(rt, {
      email: `replay-${randomUUID()}@example.com`,
      password: 'cli-passphrase',
      name: 'R',
    });
    for (const title of ['a', 'b', 'c'])
      await rt.request('POST', '/api/tasks', { token: user.token, body: { title } });
    await eventually(async () => {
      const { rows } = await rt.pool.query(`SELECT 1 FROM audit_logs WHERE actor = $1`, [user.id]);
      return rows.length >= 3;
    });

    const audit = await cli(['replay', '--projection', 'audit', '--chunk', '2', '--json']);
    expect(audit.code).toBe(0);
    expect(audit.json.read).toBeGreaterThanOrEqual(3);
    // Everything was there already: nothing applied twice.
    expect(audit.json).toMatchObject({ projection: 'audit', dry_run: false, applied: 0 });
    expect(audit.json.requests).toBeGreaterThanOrEqual(2);

    const sync = await cli(['replay', '--projection', 'sync', '--dry-run', '--json']);
    expect(sync.code).toBe(0);
    expect(sync.json).toMatchObject({ projection: 'sync', dry_run: true, applied: 0 });
    expect(sync.json.read).toBeGreaterThanOrEqual(3);

    // While another run holds the projection, a second is refused rather than interleaved.
    const busy = await withReplayLock(rt.pool, 'audit', () => cli(['replay', '--projection', 'audit']));
    expectFailure(busy, 1, /already running \[HTTP 409\]/);
    expectFailure(await cli(['replay', '--projection', 'audit', '--from', 'yesterday']), 1, /HTTP 400/);
  });

  it('creates an admin, disables an account by email: its token and login are refused after', async () => {
    const email = `ops-${randomUUID()}@example.com`;
    const created = await cli(['users', 'create-admin', '--email', email, '--name', 'Ops', '--json'], {
      stdin: 'a long ops passphrase\n',
    });
    expect(created.code).toBe(0);
    expect(created.json.user).toMatchObject({ email, role: 'admin' });

    const login = await cli(['login', '--email', email, '--json'], {
      token: null,
      stdin: 'a long ops passphrase',
    });
    expect(login.code).toBe(0);
    const opsToken = login.json.token as string;
    expect((await cli(['migrations', 'status', '--json'], { token: opsToken })).code).toBe(0);

    const disabled = await cli(['users', 'disable', email, '--reason', 'left the team', '--json']);
    expect(disabled.code).toBe(0);
    expect(disabled.json.user).toMatchObject({ id: created.json.user.id, email });

    expectFailure(await cli(['dlq', 'list'], { token: opsToken }), 1, /account is disabled \[HTTP 401\]/);
    expectFailure(
      await cli(['login', '--email', email], { token: null, stdin: 'a long ops passphrase' }),
      1,
      /account is disabled.*\[HTTP 403\]/,
    );
    expectFailure(
      await cli(['users', 'disable', `nobody-${randomUUID()}@example.com`]),
      1,
      /user not found \[HTTP 404\]/,
    );
    await eventually(async () => {
      const { rows } = await rt.pool.query(
        `SELECT 1 FROM audit_logs WHERE action = 'admin.user_disabled' AND payload->>'email' = $1`,
        [email],
      );
      return rows.length === 1;
    });

    // Not for a non-admin.
    const user = await signUp(rt, {
      email: `plain-${randomUUID()}@example.com`,
      password: 'cli-passphrase',
      name: 'P',
    });
    expectFailure(await cli(['users', 'disable', email], { token: user.token }), 1, /HTTP 403/);
  });

  it('shows applied and pending migrations per scope', async () => {
    const status = await cli(['migrations', 'status', '--json']);
    expect(status.code).toBe(0);
    const scopes = Object.fromEntries(
      status.json.scopes.map((s: { scope: string; pending: string[]; applied: unknown[] }) => [s.scope, s]),
    );
    for (const scope of ['task-api', 'ops', 'identity', 'platform', 'audit', 'sync']) {
      expect(scopes[scope]).toBeDefined();
      expect(scopes[scope].pending).toEqual([]);
    }
    expect(scopes.identity.applied.map((a: { id: string }) => a.id)).toContain('002_disabled_users');
    const human = await cli(['migrations', 'status']);
    expect(human.stdout).toMatch(/^SCOPE\s+APPLIED\s+LATEST\s+PENDING/);
  });
});
