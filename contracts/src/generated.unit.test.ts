/**
 * contracts/generated is committed: these tests fail when it is stale, when a document is
 * invalid, or when an event schema changed in a way that breaks its published version.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { parse as parseYaml } from 'yaml';
import { apiBreakingChanges } from '../scripts/lib/api-compat.js';
import { buildArtifacts, GENERATED_DIR } from '../scripts/lib/artifacts.js';
import { breakingChanges, type Schema } from '../scripts/lib/compat.js';
import { eventJsonSchema, parseEventSchemaFile } from '../scripts/lib/events.js';
import { type Json, refsIn } from '../scripts/lib/json-schema.js';
import { latestRelease, RELEASES_DIR } from '../scripts/lib/releases.js';
import { AppIds, type EventName, EventNames, SCHEMA_VERSION } from './events.js';
import { makeAjv } from './test-support/ajv.js';
import { sampleEvent, sampleTask } from './test-support/event-samples.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const generated = join(root, GENERATED_DIR);
const built = buildArtifacts();
const openapi = JSON.parse(built.get('openapi.json')!) as Json;
const asyncapi = parseYaml(built.get('asyncapi.yaml')!) as Json;

/** Follows a local JSON pointer (`#/a/b`). */
function pointer(doc: unknown, ref: string): unknown {
  let node = doc;
  for (const part of ref.slice(2).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

describe('contracts/generated', () => {
  test('is up to date with contracts/src', () => {
    const stale = [...built]
      .filter(
        ([path, content]) =>
          !existsSync(join(generated, path)) || readFileSync(join(generated, path), 'utf8') !== content,
      )
      .map(([path]) => path);
    const events = existsSync(join(generated, 'events')) ? readdirSync(join(generated, 'events')) : [];
    const orphans = events
      .filter(
        (file) => parseEventSchemaFile(file)?.version === SCHEMA_VERSION && !built.has(`events/${file}`),
      )
      .map((file) => `events/${file} (no such event)`);
    if (stale.length || orphans.length)
      throw new Error(
        `${GENERATED_DIR} is stale (${[...stale, ...orphans].join(', ')}): ` +
          'run npm run contracts:generate and commit the result.',
      );
  });

  test('generating twice gives the same bytes', () => {
    expect(buildArtifacts()).toEqual(built);
  });

  test('every event schema file has $id = the dataschema URI and ends with a newline', () => {
    for (const name of EventNames) {
      const file = built.get(`events/${name}.${SCHEMA_VERSION}.schema.json`)!;
      expect(file.endsWith('}\n')).toBe(true);
      expect(JSON.parse(file).$id).toBe(
        `https://taskstream.dev/schemas/events/${SCHEMA_VERSION}/${name}.json`,
      );
      expect(JSON.parse(file).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    }
  });
});

describe('asyncapi.yaml', () => {
  test('parses with @asyncapi/parser without errors', async () => {
    const { document, diagnostics } = await new Parser().parse(built.get('asyncapi.yaml')!);
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
    expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe('3.0.0');
    const messageNames = document!
      .components()
      .messages()
      .all()
      .map((m) => m.name());
    expect(messageNames.sort()).toEqual(EventNames.map((n) => `com.taskstream.${n}`).sort());
    const channels = document!
      .channels()
      .all()
      .map((c) => c.address());
    for (const topic of ['task-events', 'reminders', 'task-updates', 'task-commands'])
      expect(channels).toEqual(expect.arrayContaining([topic, `${topic}.dlq`]));
  });

  test('every app id has its operations', () => {
    const operations = Object.values(asyncapi.operations as Record<string, Json>);
    const of = (app: string, action: string) =>
      operations
        .filter((o) => o['x-dapr-app-id'] === app && o.action === action)
        .map((o) => (o.channel as Json).$ref);
    for (const app of AppIds) expect(operations.some((o) => o['x-dapr-app-id'] === app)).toBe(true);
    expect(of('task-api', 'send')).toEqual(
      expect.arrayContaining(['#/channels/taskEvents', '#/channels/reminders', '#/channels/taskUpdates']),
    );
    expect(of('audit', 'receive').sort()).toEqual(['#/channels/securityEvents', '#/channels/taskEvents']);
    expect(of('notification', 'receive').sort()).toEqual(['#/channels/reminders', '#/channels/taskEvents']);
    expect(of('sync', 'receive')).toEqual(['#/channels/taskUpdates']);
    expect(of('recurring', 'send')).toEqual(['#/channels/taskEventsDlq']);
  });

  test.each(EventNames)('a sample %s validates against its AsyncAPI payload', (name) => {
    const ajv = makeAjv('07', { strict: false });
    ajv.addSchema({ components: { schemas: (asyncapi.components as Json).schemas } }, 'asyncapi');
    const message = (asyncapi.components as Json).messages as Record<string, Json>;
    const payload = Object.values(message).find((m) => m.name === `com.taskstream.${name}`)!.payload as Json;
    const validate = ajv.compile({ $ref: `asyncapi${payload.$ref}` });
    expect(validate(sampleEvent(name)) ? [] : validate.errors).toEqual([]);
  });
});

/** docs/ARCHITECTURE.md §6: the public paths. */
const PUBLIC_ROUTES = [
  'post /api/auth/register',
  'post /api/auth/login',
  'get /api/auth/me',
  'get /api/tasks',
  'post /api/tasks',
  'get /api/tasks/{id}',
  'patch /api/tasks/{id}',
  'delete /api/tasks/{id}',
  'post /api/tasks/{id}/complete',
  'post /api/tasks/{id}/reopen',
  'post /api/recurrence/preview',
  'get /api/notifications',
  'post /api/notifications/{id}/read',
  'post /api/push/subscriptions',
  'delete /api/push/subscriptions',
  'get /api/push/vapid-public-key',
  'get /api/audit-logs',
  'get /api/audit-logs/export',
  'get /api/audit-logs/verify',
  'get /api/sync/events',
  'get /api/sync/stream',
  'post /api/sync/stream/ticket',
  'get /api/sync/connections',
  'get /api/admin/dlq',
  'post /api/admin/dlq/{id}/replay',
  'get /api/admin/topics',
  'get /api/admin/topics/{topic}/messages',
  'get /api/admin/stats',
  'get /ws/tasks',
  'get /ws/transactions',
  'get /api/transactions/stream',
  'post /api/transactions/stream/ticket',
  'get /healthz',
  'get /readyz',
  'get /metrics',
];

describe('openapi.json', () => {
  const paths = openapi.paths as Record<string, Record<string, Json>>;
  const operations = Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ key: `${method} ${path}`, path, op })),
  );
  const op = (key: string) => operations.find((o) => o.key === key)!.op;
  const params = (o: Json) => (o.parameters ?? []) as Json[];

  test('is OpenAPI 3.1 with info, paths and components', () => {
    expect(openapi.openapi).toBe('3.1.0');
    expect(openapi.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys((openapi.components as Json).schemas as Json).length).toBeGreaterThan(10);
  });

  test('has every public route of docs/ARCHITECTURE.md §6', () => {
    expect(operations.map((o) => o.key)).toEqual(expect.arrayContaining(PUBLIC_ROUTES));
  });

  test('every $ref resolves', () => {
    const broken = refsIn(openapi).filter(
      (ref) => !ref.startsWith('#/') || pointer(openapi, ref) === undefined,
    );
    expect(broken).toEqual([]);
  });

  test('operations are well formed', () => {
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { key, path, op: o } of operations) {
      expect([key, Object.keys(o.responses as Json).length > 0]).toEqual([key, true]);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = params(o).filter((p) => p.in === 'path');
      expect([key, declared.map((p) => p.name).sort()]).toEqual([key, templated]);
      expect(declared.every((p) => p.required === true)).toBe(true);
      for (const p of params(o))
        expect([key, p.name, ['path', 'query', 'header'].includes(p.in as string)]).toEqual([
          key,
          p.name,
          true,
        ]);
    }
  });

  test('every response and request schema compiles as JSON Schema 2020-12', () => {
    const ajv = makeAjv('2020-12', { strict: false });
    ajv.addSchema(openapi, 'openapi');
    for (const name of Object.keys((openapi.components as Json).schemas as Json))
      expect(() => ajv.compile({ $ref: `openapi#/components/schemas/${name}` })).not.toThrow();
    const validate = (name: string, value: unknown) => {
      const check = ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
      return check(value) ? [] : check.errors;
    };
    expect(validate('Task', sampleTask())).toEqual([]);
    expect(validate('CreateTaskBody', { title: 'x' })).toEqual([]);
    expect(validate('CreateTaskBody', { title: 'x', colour: 'red' })).not.toEqual([]);
    // What zod refines in code, the document states too (a fuzzer generates from it).
    expect(validate('UpdateTaskBody', {})).not.toEqual([]);
    expect(validate('UpdateTaskBody', { title: 'x' })).toEqual([]);
    expect(validate('ReminderInput', { offset_minutes: 5, at: '2026-01-01T09:00:00Z' })).not.toEqual([]);
    expect(validate('ReminderInput', {})).not.toEqual([]);
    expect(validate('ReminderInput', { offset_minutes: 5 })).toEqual([]);
    const from = '0190f1a2-7b3c-7d4e-8f50-00000000a001';
    const to = '0190f1a2-7b3c-7d4e-8f50-00000000a002';
    for (const body of [
      { from_wallet_id: from, to_wallet_id: to, amount: 1 },
      { kind: 'transfer', from_wallet_id: from, to_wallet_id: to, amount: 1 },
      { kind: 'withdrawal', from_wallet_id: from, amount: 1 },
    ])
      expect(validate('CreateTransactionBody', body)).toEqual([]);
    for (const body of [
      { from_wallet_id: from, amount: 1 },
      { kind: 'withdrawal', from_wallet_id: from, to_wallet_id: to, amount: 1 },
      { kind: 'deposit', from_wallet_id: from, to_wallet_id: to, amount: 1 },
    ])
      expect(validate('CreateTransactionBody', body)).not.toEqual([]);
    expect(validate('TimeZone', 'Mars/Olympus_Mons')).not.toEqual([]);
    expect(
      validate('ErrorBody', { error: { code: 'not_found', message: 'no such task', details: null } }),
    ).toEqual([]);
  });

  test('every string a client sends refuses NUL and lone UTF-16 surrogates (or is an enum or a strict format)', () => {
    // Headers are left out: HTTP cannot carry either character in a header value.
    const strictFormats = new Set(['uuid', 'date-time', 'email', 'uri']);
    const refuses = (pattern: string) =>
      ['a\u0000b', 'a\ud800b', 'a\udc00b', '\u0000', '\ud800'].every(
        (bad) => !new RegExp(pattern, 'u').test(bad),
      );
    const open: string[] = [];
    const visit = (node: unknown, where: string, seen: Set<string>): void => {
      if (node === null || typeof node !== 'object') return;
      const schema = node as Json;
      if (typeof schema.$ref === 'string') {
        if (!seen.has(schema.$ref))
          visit(pointer(openapi, schema.$ref), where, new Set([...seen, schema.$ref]));
        return;
      }
      const types = [schema.type].flat();
      if (
        types.includes('string') &&
        schema.enum === undefined &&
        schema.const === undefined &&
        !strictFormats.has(schema.format as string) &&
        // Every pattern applies, the one in `pattern` and those zod puts in `allOf`.
        ![schema.pattern, ...[(schema.allOf as Json[] | undefined) ?? []].flat().map((s) => s.pattern)].some(
          (pattern) => typeof pattern === 'string' && refuses(pattern),
        )
      )
        open.push(where);
      for (const [key, value] of Object.entries(schema))
        if (key !== 'examples' && key !== 'default')
          visit(value, key === 'properties' || key === '$defs' ? where : `${where}.${key}`, seen);
    };
    for (const { key, op: o } of operations) {
      for (const p of params(o))
        if (p.in !== 'header') visit(p.schema, `${key} ${p.in} ${p.name}`, new Set());
      const body = (o.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
      if (body) visit(body['application/json']?.schema, `${key} body`, new Set());
    }
    expect(open).toEqual([]);
  });

  test('errors, security and the Idempotency-Key / If-Match headers are described', () => {
    const errorRef = { $ref: '#/components/schemas/ErrorBody' };
    expect(pointer(openapi, '#/components/schemas/ErrorBody/properties/error/properties')).toEqual({
      code: expect.any(Object),
      message: expect.any(Object),
      details: expect.any(Object),
    });
    for (const { op: o } of operations) {
      expect((o.responses as Record<string, Json>).default).toMatchObject({
        content: { 'application/json': { schema: errorRef } },
      });
    }
    expect(openapi.security).toEqual([{ bearerAuth: [] }]);
    expect((openapi.components as Json).securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    expect(op('post /api/auth/login').security).toEqual([]);
    expect(op('get /api/tasks').security).toBeUndefined();
    expect((op('get /api/admin/stats').responses as Json)['403']).toBeDefined();
    expect(params(op('post /api/tasks')).map((p) => [p.name, p.in])).toContainEqual([
      'Idempotency-Key',
      'header',
    ]);
    expect(params(op('patch /api/tasks/{id}')).map((p) => [p.name, p.in])).toContainEqual([
      'If-Match',
      'header',
    ]);
    expect((op('patch /api/tasks/{id}').responses as Json)['412']).toBeDefined();
    expect(params(op('get /api/tasks')).map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'status',
        'priority',
        'tag',
        'q',
        'due_before',
        'due_after',
        'sort',
        'cursor',
        'limit',
      ]),
    );
    expect(params(op('get /api/audit-logs')).map((p) => p.name)).toEqual(
      expect.arrayContaining([
        'user_id',
        'task_id',
        'event_type',
        'start_date',
        'end_date',
        'q',
        'cursor',
        'limit',
      ]),
    );
    // What a non-admin gets for someone else's id is part of the contract, not only of the code.
    for (const path of ['get /api/audit-logs', 'get /api/audit-logs/export']) {
      const userId = params(op(path)).find((p) => p.name === 'user_id')!;
      expect(userId.description).toMatch(/non-admin .*another user's id gets nothing back/);
    }
  });
});

const release = latestRelease();

/**
 * The published schemas are the baseline: those of the newest release (contracts/releases), those
 * in the working tree and, when git can tell, those at CONTRACTS_BASE_REF (default HEAD; a pull
 * request's check sets its target branch, e.g. origin/main).
 */
function baselines(): { label: string; name: string; schema: Schema }[] {
  const found: { label: string; name: string; schema: Schema }[] = [];
  const consider = (label: string, file: string, read: () => string) => {
    const parsed = parseEventSchemaFile(file);
    if (parsed?.version === SCHEMA_VERSION)
      found.push({ label, name: parsed.name, schema: JSON.parse(read()) });
  };
  for (const [file, schema] of release?.events ?? [])
    consider(`release ${release!.version} ${file}`, file, () => JSON.stringify(schema));
  const dir = join(generated, 'events');
  if (existsSync(dir))
    for (const file of readdirSync(dir))
      consider(`working tree ${file}`, file, () => readFileSync(join(dir, file), 'utf8'));
  const ref = process.env.CONTRACTS_BASE_REF || 'HEAD'; // set but empty (a workflow's unset value): HEAD
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let listed: string[] = [];
  try {
    listed = git('ls-tree', '--name-only', `${ref}:${GENERATED_DIR}/events`).split('\n').filter(Boolean);
  } catch {
    // no git, no such ref, or nothing published there yet: the working tree is the baseline
  }
  for (const file of listed)
    consider(`${ref} ${file}`, file, () => git('show', `${ref}:${GENERATED_DIR}/events/${file}`));
  return found;
}

describe(`event schemas stay compatible with their published ${SCHEMA_VERSION}`, () => {
  const cases = baselines();

  test('there is a baseline for every event type', () => {
    expect([...new Set(cases.map((c) => c.name))].sort()).toEqual([...EventNames].sort());
  });

  test.each(cases.map((c) => [c.label, c] as const))('%s', (_label, { name, schema }) => {
    if (!EventNames.includes(name as EventName))
      throw new Error(
        `event type ${name} was removed, but ${SCHEMA_VERSION} published it: bump SCHEMA_VERSION instead`,
      );
    const changes = breakingChanges(schema, eventJsonSchema(name as EventName) as Schema);
    if (changes.length)
      throw new Error(
        `${name} ${SCHEMA_VERSION} has breaking changes:\n${changes.map((c) => `  ${c.path}: ${c.message}`).join('\n')}\n` +
          'Make the change compatible (add optional fields), or bump SCHEMA_VERSION in contracts/src/events.ts ' +
          '(the old files stay) and run npm run contracts:generate.',
      );
  });
});

describe('the REST API stays compatible with the newest release', () => {
  const accepted = JSON.parse(readFileSync(join(root, RELEASES_DIR, 'accepted-breaking.json'), 'utf8')) as {
    changes: { change: string; reason: string }[];
  };

  test('a release is kept to compare with', () => {
    expect(release?.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test(`every operation, request and success response of ${release?.version} still works for its clients`, () => {
    const found = apiBreakingChanges(release!.openapi as never, openapi as never).map(
      (c) => `${c.path}: ${c.message}`,
    );
    const listed = new Set(accepted.changes.map((c) => c.change));
    const unlisted = found.filter((c) => !listed.has(c));
    if (unlisted.length)
      throw new Error(
        `breaking changes to the API of ${release!.version}:\n${unlisted.map((c) => `  ${c}`).join('\n')}\n` +
          'Make the change compatible (new optional fields, new operations), or, if it is meant, list it with ' +
          `its reason in ${RELEASES_DIR}/accepted-breaking.json and under "Breaking" in CHANGELOG.md.`,
      );
    // An accepted change that no longer happens is a stale entry.
    expect(accepted.changes.map((c) => c.change).filter((c) => !found.includes(c))).toEqual([]);
  });
});
