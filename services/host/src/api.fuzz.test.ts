import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { allServices } from './index.js';

/**
 * schemathesis over the served `/openapi.json` of every service in one process on a real
 * PostgreSQL: no input gives a 5xx, and no input the schema allows is refused with a 4xx other
 * than the state answers (401/403/404/409/429, and those scripts/fuzz/schemathesis.toml adds per
 * operation). What JSON Schema cannot express is listed, with reasons, in scripts/fuzz/hooks.py.
 *
 * Run by `npm run test:fuzz`, which first installs the pinned schemathesis (scripts/fuzz/venv.sh).
 * TASKSTREAM_FUZZ_EXAMPLES raises the examples per operation for a deeper local run;
 * TASKSTREAM_FUZZ_SEED repeats a run.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fuzzDir = path.join(repoRoot, 'scripts/fuzz');
const schemathesis =
  process.env.TASKSTREAM_FUZZ_SCHEMATHESIS ??
  path.join(process.env.HOME ?? '', '.cache/taskstream/schemathesis-venv/bin/schemathesis');

/** The run's figures, from its JSON report (schemathesis 4), for the log. */
interface Report {
  operations: { selected: number; tested: number };
  test_cases: { generated: number; with_failures: number; unique_failures: number };
  failures: { code: string; title: string; count: number; operations: string[] }[];
  filtered: number;
  running_time: number;
}

/** The running fuzzer, stopped with the suite if the test times out first. */
let fuzzer: ChildProcess | undefined;

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Asynchronous on purpose: the API under test answers from this same process.
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env } });
    fuzzer = child;
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function figures(reportPath: string): Promise<string> {
  try {
    const report = JSON.parse(await readFile(reportPath, 'utf8')) as Report;
    const failures = report.failures.map(
      (f) => `${f.code} ${f.title} x${f.count}: ${f.operations.join(', ')}`,
    );
    return [
      `operations tested: ${report.operations.tested}/${report.operations.selected}`,
      `test cases: ${report.test_cases.generated} generated, ${report.test_cases.unique_failures} unique failures`,
      `refusals scripts/fuzz/hooks.py explains and drops: ${report.filtered}`,
      `time: ${Math.round(report.running_time)} s`,
      ...failures,
    ].join('\n');
  } catch (err) {
    return `no report (${String(err)})`;
  }
}

describe('the served OpenAPI document, fuzzed', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime(allServices);
  }, 120_000);
  afterAll(async () => {
    if (fuzzer?.exitCode === null) fuzzer.kill();
    await rt?.close();
  });

  test('no server error and no valid request refused', async () => {
    const user = await signUp(rt, {
      email: `fuzz-${Date.now()}@example.com`,
      password: 'fuzzing the served spec',
      name: 'Fuzz',
    });
    const admin = await rt.auth.sign({ userId: user.id, role: 'admin' });
    const reports = await mkdtemp(path.join(tmpdir(), 'taskstream-fuzz-'));
    const args = [
      '--config-file',
      path.join(fuzzDir, 'schemathesis.toml'),
      'run',
      `${rt.url}/openapi.json`,
      '--url',
      rt.url,
      '--report',
      'json',
      '--report-json-path',
      path.join(reports, 'report.json'),
      ...(process.env.TASKSTREAM_FUZZ_EXAMPLES
        ? ['--max-examples', process.env.TASKSTREAM_FUZZ_EXAMPLES]
        : []),
      ...(process.env.TASKSTREAM_FUZZ_SEED ? ['--seed', process.env.TASKSTREAM_FUZZ_SEED] : []),
      // e.g. `--include-name "POST /api/tasks" --phases fuzzing` while looking into one operation
      ...(process.env.TASKSTREAM_FUZZ_ARGS?.match(/"[^"]*"|\S+/g)?.map((a) => a.replace(/^"|"$/g, '')) ?? []),
    ];
    const { code, output } = await run(schemathesis, args, {
      TASKSTREAM_FUZZ_TOKEN: user.token,
      TASKSTREAM_FUZZ_ADMIN_TOKEN: admin,
      SCHEMATHESIS_HOOKS: path.join(fuzzDir, 'hooks.py'),
      TASKSTREAM_FUZZ_CACHE: path.join(process.env.HOME ?? tmpdir(), '.cache/taskstream/schemathesis-cache'),
      NO_COLOR: '1',
    });
    const summary = await figures(path.join(reports, 'report.json'));
    console.log(`${output}\n${summary}`);
    // The whole output on failure: each failure with its curl line and `st replay` id.
    if (code !== 0) throw new Error(`schemathesis exited with ${code}:\n${output}\n${summary}`);
  }, 1_800_000);
});
