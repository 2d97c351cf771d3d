/**
 * `taskstream`: the admin command line over a running deployment's API (ADR 0024). Every command
 * is a table entry (words, options, usage, run); arguments are parsed by node:util parseArgs in
 * strict mode, so a misspelt option is an error, not ignored. Output is for people by default and
 * one JSON document with `--json`; failures are one line on stderr with exit code 1 (2: bad usage).
 */
import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type {
  AuditVerifyResult,
  AuthResponse,
  DeadLetter,
  DisabledUser,
  MigrationStatus,
  ProjectionReplayResult,
  UserResponse,
} from '@taskstream/contracts';
import cliProgress from 'cli-progress';
import { CliError, type Client, createClient } from './client.js';
import { readPassword } from './prompt.js';

export { CliError } from './client.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: Record<string, string | undefined>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

interface Context {
  values: Values;
  positionals: string[];
  io: Io;
  json: boolean;
  client(): Client;
  /** Prints `value` as JSON with --json, else the human text. */
  print(value: unknown, human: () => string): void;
  /** A progress bar on stderr when a person watches (a terminal, no --json); else a no-op. */
  progress(format: string): Progress;
}

interface Progress {
  start(total: number, value?: number): void;
  update(value: number, total?: number): void;
  stop(): void;
}

interface Command {
  words: string[];
  args?: string;
  summary: string;
  options?: Options;
  /** Help text after the usage line. */
  details?: string;
  run(ctx: Context): Promise<number | undefined>;
}

const DEFAULT_URL = 'http://localhost:8080';

const GLOBAL_OPTIONS: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

const AUDIT_FILTERS: Options = {
  'user-id': { type: 'string' },
  'task-id': { type: 'string' },
  'event-type': { type: 'string' },
  'start-date': { type: 'string' },
  'end-date': { type: 'string' },
  q: { type: 'string' },
};
const AUDIT_FILTER_HELP =
  'filters: --user-id <uuid> --task-id <uuid> --event-type <action> --start-date <ISO> --end-date <ISO> --q <text>';

const auditFilters = (values: Values) => ({
  user_id: str(values['user-id']),
  task_id: str(values['task-id']),
  event_type: str(values['event-type']),
  start_date: str(values['start-date']),
  end_date: str(values['end-date']),
  q: str(values.q),
});

const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

function positiveInt(value: string | boolean | undefined, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > max)
    throw new CliError(`--${name} must be a whole number from 1 to ${max}, not ${JSON.stringify(value)}`, 2);
  return n;
}

function required(values: Values, name: string): string {
  const value = str(values[name])?.trim();
  if (!value) throw new CliError(`--${name} is required`, 2);
  return value;
}

function onePositional(ctx: Context, what: string): string {
  if (ctx.positionals.length !== 1)
    throw new CliError(
      `expected one ${what}, got ${ctx.positionals.length === 0 ? 'none' : ctx.positionals.length}`,
      2,
    );
  return ctx.positionals[0]!;
}

function noPositionals(ctx: Context) {
  if (ctx.positionals.length > 0)
    throw new CliError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`, 2);
}

/** A fixed-width table of the given columns; long cells are cut. */
function table(rows: Record<string, unknown>[], columns: string[], maxWidth = 48): string {
  if (rows.length === 0) return '(none)';
  const cell = (value: unknown) => {
    const text =
      value === null || value === undefined
        ? '-'
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value);
    const line = text.replace(/\s+/g, ' ');
    return line.length > maxWidth ? `${line.slice(0, maxWidth - 1)}…` : line;
  };
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => p.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

const fields = (record: Record<string, unknown>, names: string[]) =>
  names
    .filter((n) => record[n] !== undefined)
    .map((n) => `${`${n}:`.padEnd(16)}${record[n] === null ? '-' : String(record[n])}`)
    .join('\n');

interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** One page, or with `all` every page (following next_cursor). */
async function pages<T>(
  client: Client,
  path: string,
  query: Record<string, string | number | undefined>,
  all: boolean,
): Promise<Page<T>> {
  const first = await client.json<Page<T>>('GET', path, { query });
  if (!all) return first;
  const items = [...first.items];
  let cursor = first.next_cursor;
  while (cursor) {
    const next = await client.json<Page<T>>('GET', path, { query: { ...query, cursor } });
    items.push(...next.items);
    cursor = next.next_cursor;
  }
  return { items, next_cursor: null };
}

const COMMANDS: Command[] = [
  {
    words: ['login'],
    summary: 'log in and print a token (the password from stdin or a prompt, never a flag)',
    options: { email: { type: 'string' } },
    details:
      'Prints only the token, so that `export TASKSTREAM_TOKEN=$(taskstream login --email you@example.com)` works;\n--json prints {"token", "user"}.',
    async run(ctx) {
      noPositionals(ctx);
      const email = required(ctx.values, 'email');
      const password = await readPassword('password', ctx.io.stdin, ctx.io.stderr);
      const answer = await ctx.client().json<AuthResponse>('POST', '/api/auth/login', {
        body: { email, password },
        anonymous: true,
      });
      ctx.print(answer, () => answer.token);
      return 0;
    },
  },
  {
    words: ['dlq', 'list'],
    summary: 'list dead letters, newest first',
    options: {
      topic: { type: 'string' },
      consumer: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
    details: '--status pending|replayed|discarded; --all follows every page (else --limit, default 50).',
    async run(ctx) {
      noPositionals(ctx);
      const page = await pages<DeadLetter>(
        ctx.client(),
        '/api/admin/dlq',
        {
          topic: str(ctx.values.topic),
          consumer: str(ctx.values.consumer),
          status: str(ctx.values.status),
          limit: positiveInt(ctx.values.limit, 'limit', 1000),
        },
        ctx.values.all === true,
      );
      ctx.print(page, () => {
        const listed = table(page.items as unknown as Record<string, unknown>[], [
          'id',
          'status',
          'topic',
          'consumer',
          'attempts',
          'last_failed_at',
          'reason',
        ]);
        return page.next_cursor ? `${listed}\n(more: --all, or a larger --limit)` : listed;
      });
      return 0;
    },
  },
  {
    words: ['dlq', 'show'],
    args: '<id>',
    summary: 'one dead letter with its event, and who replayed or discarded it and why',
    async run(ctx) {
      const id = onePositional(ctx, 'dead letter id');
      const letter = await ctx.client().json<DeadLetter>('GET', `/api/admin/dlq/${encodeURIComponent(id)}`);
      ctx.print(letter, () =>
        [
          fields(letter as unknown as Record<string, unknown>, [
            'id',
            'status',
            'topic',
            'consumer',
            'attempts',
            'first_failed_at',
            'last_failed_at',
            'reason',
            'status_reason',
            'status_by',
            'status_at',
          ]),
          'event:',
          JSON.stringify(letter.event, null, 2),
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    words: ['dlq', 'replay'],
    args: '<id> | --topic <topic>',
    summary: 'replay one dead letter, or every pending one of a topic, to the consumer that failed it',
    options: { topic: { type: 'string' } },
    async run(ctx) {
      const topic = str(ctx.values.topic);
      if (topic !== undefined) {
        noPositionals(ctx);
        const { replayed } = await ctx.client().json<{ replayed: number }>('POST', '/api/admin/dlq/replay', {
          query: { topic },
        });
        ctx.print({ topic, replayed }, () => `replayed ${replayed} dead letter(s) of ${topic}`);
        return 0;
      }
      if (ctx.positionals.length === 0) throw new CliError('give a dead letter id or --topic <topic>', 2);
      const id = onePositional(ctx, 'dead letter id');
      await ctx.client().json('POST', `/api/admin/dlq/${encodeURIComponent(id)}/replay`);
      ctx.print({ id, replayed: true }, () => `dead letter ${id} replayed`);
      return 0;
    },
  },
  {
    words: ['dlq', 'discard'],
    args: '<id> --reason <text>',
    summary: 'discard a dead letter; the record stays, with the reason, who and when',
    options: { reason: { type: 'string' } },
    async run(ctx) {
      const id = onePositional(ctx, 'dead letter id');
      const reason = required(ctx.values, 'reason');
      const client = ctx.client();
      const path = `/api/admin/dlq/${encodeURIComponent(id)}`;
      await client.json('POST', `${path}/discard`, { body: { reason } });
      const letter = await client.json<DeadLetter>('GET', path);
      ctx.print(letter, () => `dead letter ${id} discarded: ${reason}`);
      return 0;
    },
  },
  {
    words: ['audit', 'query'],
    args: '[filters]',
    summary: 'audit trail rows, newest first',
    options: { ...AUDIT_FILTERS, limit: { type: 'string' }, all: { type: 'boolean', default: false } },
    details: `${AUDIT_FILTER_HELP}\n--all follows every page (else --limit, default 50).`,
    async run(ctx) {
      noPositionals(ctx);
      const page = await pages<Record<string, unknown>>(
        ctx.client(),
        '/api/audit-logs',
        { ...auditFilters(ctx.values), limit: positiveInt(ctx.values.limit, 'limit', 1000) },
        ctx.values.all === true,
      );
      ctx.print(page, () => {
        const listed = table(page.items, ['id', 'time', 'action', 'actor', 'task_id', 'source'], 40);
        return page.next_cursor ? `${listed}\n(more: --all, or a larger --limit)` : listed;
      });
      return 0;
    },
  },
  {
    words: ['audit', 'export'],
    args: '--format csv|ndjson [--out <file>] [filters]',
    summary: 'export the audit selection as CSV or NDJSON, to a file or stdout',
    options: { ...AUDIT_FILTERS, format: { type: 'string' }, out: { type: 'string' } },
    details: `${AUDIT_FILTER_HELP}\nWithout --out the export goes to stdout; --json (which needs --out) prints a summary.`,
    async run(ctx) {
      noPositionals(ctx);
      const format = required(ctx.values, 'format');
      if (format !== 'csv' && format !== 'ndjson')
        throw new CliError(`--format must be csv or ndjson, not ${JSON.stringify(format)}`, 2);
      const out = str(ctx.values.out);
      if (ctx.json && !out)
        throw new CliError('--json needs --out (without it the export itself is the output)', 2);
      const response = await ctx
        .client()
        .stream('GET', '/api/audit-logs/export', { query: { ...auditFilters(ctx.values), format } });
      // Rows end with CRLF in CSV (fields never hold one: objects are JSON) and LF in NDJSON.
      const end = format === 'csv' ? '\r\n' : '\n';
      let lines = 0;
      let bytes = 0;
      let tail = '';
      const bar = ctx.progress('audit export | {value} rows | {duration}s');
      bar.start(0, 0);
      const target: NodeJS.WritableStream = out ? createWriteStream(out) : ctx.io.stdout;
      const counter = new Writable({
        write(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          const text = tail + chunk.toString('latin1');
          const parts = text.split(end);
          tail = parts.pop() ?? '';
          lines += parts.length;
          bar.update(Math.max(0, lines - (format === 'csv' ? 1 : 0)));
          const ok = target.write(chunk);
          if (ok) done();
          else target.once('drain', () => done());
        },
        final(done) {
          if (out) target.end(done);
          else done();
        },
      });
      try {
        await pipeline(Readable.fromWeb(response.body as ReadableStream), counter);
      } catch (err) {
        throw new CliError(
          `export failed midway (the server stopped it or ${out ?? 'stdout'} refused it): ${(err as Error).message}`,
        );
      } finally {
        bar.stop();
      }
      const rows = Math.max(0, lines - (format === 'csv' ? 1 : 0));
      const summary = { format, rows, bytes, out: out ?? null };
      if (out) ctx.print(summary, () => `exported ${rows} row(s) as ${format} to ${out}`);
      return 0;
    },
  },
  {
    words: ['audit', 'verify'],
    args: '[--start-date <ISO>] [--end-date <ISO>]',
    summary: "check the audit trail's hash chain (exit code 1 when it is broken)",
    options: { 'start-date': { type: 'string' }, 'end-date': { type: 'string' } },
    async run(ctx) {
      noPositionals(ctx);
      const result = await ctx.client().json<AuditVerifyResult>('GET', '/api/audit-logs/verify', {
        query: { start_date: str(ctx.values['start-date']), end_date: str(ctx.values['end-date']) },
      });
      ctx.print(result, () =>
        result.ok
          ? `chain intact: ${result.checked} row(s) checked`
          : `chain BROKEN at row ${result.first_broken} (${result.checked} row(s) checked)`,
      );
      return result.ok ? 0 : 1;
    },
  },
  {
    words: ['replay'],
    args: '--projection audit|sync [--from <ISO time | log position>] [--dry-run] [--chunk <rows>]',
    summary: 'rebuild a projection from the kept event log, idempotently, in bounded chunks',
    options: {
      projection: { type: 'string' },
      from: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      chunk: { type: 'string' },
    },
    details:
      'Each request replays at most --chunk log rows (default 2000) and says where to go on; one run per\nprojection at a time (another gets "already running").',
    async run(ctx) {
      noPositionals(ctx);
      const projection = required(ctx.values, 'projection');
      if (projection !== 'audit' && projection !== 'sync')
        throw new CliError(`--projection must be audit or sync, not ${JSON.stringify(projection)}`, 2);
      const limit = positiveInt(ctx.values.chunk, 'chunk', 10_000);
      const path = projection === 'audit' ? '/api/audit-logs/replay' : '/api/sync/replay';
      const client = ctx.client();
      const dryRun = ctx.values['dry-run'] === true;
      const total = {
        projection,
        dry_run: dryRun,
        read: 0,
        applied: 0,
        skipped_as_duplicate: 0,
        ignored: 0,
        invalid: 0,
        requests: 0,
      };
      const bar = ctx.progress(
        `${projection} replay [{bar}] {percentage}% | {value}/{total} events | {eta_value}s left`,
      );
      let from = str(ctx.values.from);
      try {
        for (;;) {
          const chunk = await client.json<ProjectionReplayResult>('POST', path, {
            body: { ...(from ? { from } : {}), dry_run: dryRun, ...(limit ? { limit } : {}) },
          });
          if (total.requests === 0) bar.start(chunk.read + chunk.remaining, 0);
          total.requests++;
          total.read += chunk.read;
          total.applied += chunk.applied;
          total.skipped_as_duplicate += chunk.skipped_as_duplicate;
          total.ignored += chunk.ignored;
          total.invalid += chunk.invalid;
          // The log grows while the replay runs: the total follows it.
          bar.update(total.read, total.read + chunk.remaining);
          if (!chunk.next_from) break;
          from = chunk.next_from;
        }
      } finally {
        bar.stop();
      }
      ctx.print(total, () =>
        [
          `${projection} replay${dryRun ? ' (dry run: nothing written)' : ''}: ${total.read} log row(s) read`,
          `  ${dryRun ? 'would apply' : 'applied'}: ${total.applied}`,
          `  already there: ${total.skipped_as_duplicate}`,
          `  not for this projection: ${total.ignored}`,
          `  invalid: ${total.invalid}`,
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    words: ['users', 'create-admin'],
    args: '--email <email> [--name <name>]',
    summary: 'create an admin account (the password from stdin or a prompt)',
    options: { email: { type: 'string' }, name: { type: 'string' } },
    async run(ctx) {
      noPositionals(ctx);
      const email = required(ctx.values, 'email');
      const name = str(ctx.values.name)?.trim() || email.split('@')[0] || email;
      const password = await readPassword('password for the new admin', ctx.io.stdin, ctx.io.stderr);
      const { user } = await ctx.client().json<UserResponse>('POST', '/api/admin/users', {
        body: { email, name, password, role: 'admin' },
      });
      ctx.print({ user }, () => `admin ${user.email} created (id ${user.id})`);
      return 0;
    },
  },
  {
    words: ['users', 'disable'],
    args: '<id-or-email> [--reason <text>]',
    summary: 'disable an account: its logins and tokens are refused from then on',
    options: { reason: { type: 'string' } },
    async run(ctx) {
      const ref = onePositional(ctx, 'user id or email');
      const reason = str(ctx.values.reason)?.trim();
      const answer = await ctx
        .client()
        .json<DisabledUser>('POST', `/api/admin/users/${encodeURIComponent(ref)}/disable`, {
          body: reason ? { reason } : {},
        });
      ctx.print(
        answer,
        () => `${answer.user.email} (${answer.user.id}) disabled since ${answer.user.disabled_at}`,
      );
      return 0;
    },
  },
  {
    words: ['migrations', 'status'],
    summary: 'applied and pending database migrations',
    details:
      "Migrations are applied by the services at start (MIGRATE_ON_START) or by `node services/<id>/dist/main.js migrate`\nwith DATABASE_URL (the chart's migrations Job), not through the API (ADR 0024).",
    async run(ctx) {
      noPositionals(ctx);
      const status = await ctx.client().json<MigrationStatus>('GET', '/api/admin/migrations');
      ctx.print(status, () =>
        table(
          status.scopes.map((s) => ({
            scope: s.scope,
            applied: s.applied.length,
            latest: s.applied[s.applied.length - 1]?.id ?? null,
            pending: s.pending.length ? s.pending.join(', ') : 'none',
          })),
          ['scope', 'applied', 'latest', 'pending'],
          60,
        ),
      );
      return 0;
    },
  },
];

const name = (c: Command) => c.words.join(' ');
const usageOf = (c: Command) =>
  `usage: taskstream ${name(c)}${c.args ? ` ${c.args}` : ''} [--json] [--url <url>] [--token <token>]`;

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => name(c).length));
  return [
    'taskstream: admin tools for a taskstream deployment, over its API',
    '',
    'usage: taskstream <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${name(c).padEnd(width)}  ${c.summary}`),
    '',
    `Every command: --url <url> (or TASKSTREAM_URL, default ${DEFAULT_URL}), --token <jwt> (or TASKSTREAM_TOKEN),`,
    '--json (one JSON document on stdout, for scripts), --help. Exit codes: 0 done, 1 failed, 2 bad usage.',
  ].join('\n');
}

function version(): string {
  // ../package.json from src/ and dist/ alike.
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/** Finds the command the leading words name; global options may come before them. */
function resolve(argv: string[]): { command?: Command; rest: string[]; words: string[] } {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const arg = argv[i++]!;
    lead.push(arg);
    if ((arg === '--url' || arg === '--token') && i < argv.length) lead.push(argv[i++]!);
  }
  const words = argv.slice(i, i + 2);
  const command =
    COMMANDS.find((c) => c.words.length === 2 && c.words[0] === words[0] && c.words[1] === words[1]) ??
    COMMANDS.find((c) => c.words.length === 1 && c.words[0] === words[0]);
  return { command, rest: [...lead, ...argv.slice(i + (command?.words.length ?? 0))], words };
}

export async function run(argv: string[], io: Io): Promise<number> {
  const say = (text: string) => io.stderr.write(`${text}\n`);
  const { command, rest, words } = resolve(argv);
  if (!command) {
    if (argv.includes('--version')) {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    const group = COMMANDS.filter((c) => c.words[0] === words[0]);
    if (words.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      io.stdout.write(`${group.length ? group.map(usageOf).join('\n') : overview()}\n`);
      return words.length === 0 && !argv.includes('--help') && !argv.includes('-h') ? 2 : 0;
    }
    say(
      group.length
        ? `taskstream: ${words[0]} needs one of: ${group.map((c) => c.words[1]).join(', ')} (taskstream ${words[0]} --help)`
        : `taskstream: unknown command ${JSON.stringify(words[0])} (taskstream --help lists them)`,
    );
    return 2;
  }

  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] });
  } catch (err) {
    say(
      `taskstream ${name(command)}: ${(err as Error).message.split('\n')[0]} (taskstream ${name(command)} --help)`,
    );
    return 2;
  }
  if (values.help) {
    io.stdout.write(
      `${usageOf(command)}\n${command.summary}\n${command.details ? `${command.details}\n` : ''}`,
    );
    return 0;
  }
  const json = values.json === true;
  const ctx: Context = {
    values,
    positionals,
    io,
    json,
    client: () =>
      createClient({
        url: str(values.url) ?? io.env.TASKSTREAM_URL ?? DEFAULT_URL,
        token: str(values.token) ?? io.env.TASKSTREAM_TOKEN,
      }),
    print(value, human) {
      io.stdout.write(`${json ? JSON.stringify(value) : human()}\n`);
    },
    progress(format) {
      if (json || !io.stderr.isTTY) return { start() {}, update() {}, stop() {} };
      const bar = new cliProgress.SingleBar(
        { format, stream: io.stderr },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      return {
        start(total, value = 0) {
          bar.start(total, value);
          started = true;
        },
        update(value, total) {
          if (total !== undefined) bar.setTotal(total);
          bar.update(value);
        },
        stop() {
          if (started) bar.stop();
        },
      };
    },
  };
  try {
    return (await command.run(ctx)) ?? 0;
  } catch (err) {
    if (err instanceof CliError) {
      say(`taskstream ${name(command)}: ${err.message}`);
      return err.exitCode;
    }
    say(`taskstream ${name(command)}: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}
