import { PassThrough } from 'node:stream';
import { type Io, run } from './cli.js';

/**
 * What the CLI answers before it talks to any server: help, and bad usage as one line with exit
 * code 2. (Every command against a running server: services/host/src/cli.int.test.ts.)
 */
async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const out = new PassThrough();
  const err = new PassThrough() as unknown as NodeJS.WriteStream;
  out.on('data', (d) => (stdout += d));
  (err as unknown as PassThrough).on('data', (d: Buffer) => (stderr += d));
  const io: Io = { stdout: out, stderr: err, stdin: new PassThrough() as unknown as NodeJS.ReadStream, env };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

test('--help lists every command; a command’s --help its usage', async () => {
  const help = await cli(['--help']);
  expect(help.code).toBe(0);
  for (const command of [
    'login',
    'dlq discard',
    'audit export',
    'replay',
    'users disable',
    'migrations status',
  ])
    expect(help.stdout).toContain(command);
  const usage = await cli(['dlq', 'discard', '--help']);
  expect(usage).toMatchObject({ code: 0, stderr: '' });
  expect(usage.stdout).toMatch(/^usage: taskstream dlq discard <id> --reason <text>/);
});

test.each([
  [[], /^$/],
  [['frobnicate'], /unknown command "frobnicate"/],
  [['audit'], /audit needs one of: query, export, verify/],
  [['dlq', 'list', '--colour', 'red'], /Unknown option '--colour'/],
  [['dlq', 'list', '--limit', '0'], /--limit must be a whole number from 1 to 1000/],
  [['dlq', 'show'], /expected one dead letter id, got none/],
  [['dlq', 'replay'], /give a dead letter id or --topic <topic>/],
  [['dlq', 'discard', '7', '--reason', '  '], /--reason is required/],
  [['audit', 'export', '--format', 'xml'], /--format must be csv or ndjson/],
  [['replay', '--projection', 'tasks'], /--projection must be audit or sync/],
  [['replay', '--projection', 'audit', '--chunk', '1e3'], /--chunk must be a whole number/],
  [['users', 'disable'], /expected one user id or email, got none/],
  [['dlq', 'list'], /no token: set TASKSTREAM_TOKEN or pass --token/],
  [['dlq', 'list', '--token', 't', '--url', 'ftp://example.com'], /is not an http\(s\) URL/],
])('%j is bad usage: exit 2, one line', async (args, message) => {
  const { code, stdout, stderr } = await cli(args as string[]);
  expect(code).toBe(2);
  if (args.length === 0) {
    expect(stdout).toContain('usage: taskstream <command>');
    return;
  }
  expect(stdout).toBe('');
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(message);
});

test('an unreachable server is one line, exit 1, and never shows the token', async () => {
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.secret-signature';
  const { code, stderr } = await cli(['dlq', 'list'], {
    TASKSTREAM_URL: 'http://127.0.0.1:9',
    TASKSTREAM_TOKEN: token,
  });
  expect(code).toBe(1);
  expect(stderr).toMatch(/^taskstream dlq list: cannot reach http:\/\/127\.0\.0\.1:9: /);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toContain('secret-signature');
});
