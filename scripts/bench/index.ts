import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pressureSince, pressureTotals } from './support.js';
import { benchTaskApi } from './task-api.js';

/**
 * `npm run bench [-- --only task-api,audit]`: runs each bench, prints a table, writes JSON to
 * bench-results/. Service benches live beside this file as `<service>.ts` exporting `bench<Name>`.
 * `-- --runtime dapr` runs scripts/bench/dapr.ts instead (the local Dapr stack beside the embedded
 * host), then sync, recurring and notification, which measure the stack beside the embedded
 * runtime whenever it is up (with any runtime flag).
 */
type Bench = () => Promise<Record<string, unknown>>;
const here = path.dirname(new URL(import.meta.url).pathname);

async function optional(file: string, exportName: string): Promise<Bench | undefined> {
  if (!existsSync(path.join(here, file))) return undefined;
  const module = (await import(`./${file.replace(/\.ts$/, '.js')}`)) as Record<string, Bench>;
  return module[exportName];
}

const args = process.argv.slice(2);
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? new Set(args[onlyIndex + 1]?.split(',')) : undefined;

const benches: [string, Bench | undefined][] = [
  ['task-api', benchTaskApi],
  ['task-api-host', () => benchTaskApi({ services: 'all' })],
  ['audit', await optional('audit.ts', 'benchAudit')],
  ['sync', await optional('sync.ts', 'benchSync')],
  ['notification', await optional('notification.ts', 'benchNotification')],
  ['recurring', await optional('recurring.ts', 'benchRecurring')],
  ['ops', await optional('ops.ts', 'benchOps')],
  ['payments', await optional('payments.ts', 'benchPayments')],
];
const runtimeIndex = args.indexOf('--runtime');
const runtime = runtimeIndex >= 0 ? args[runtimeIndex + 1] : 'embedded';
if (runtime !== 'embedded' && runtime !== 'dapr') throw new Error(`--runtime ${runtime}: embedded or dapr`);
// Under dapr: the task-create comparison, then the benches that measure both runtimes side by side.
const bothRuntimes = new Set(['sync', 'recurring', 'notification']);
if (runtime === 'dapr')
  benches.splice(
    0,
    benches.length,
    ['dapr', await optional('dapr.ts', 'benchDapr')],
    ...benches.filter(([name]) => bothRuntimes.has(name)),
  );

const results: Record<string, unknown> = {
  machine: {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    node: process.version,
    time: new Date().toISOString(),
  },
};
for (const [name, bench] of benches) {
  if (!bench || (only && !only.has(name))) continue;
  process.stderr.write(`bench ${name}...\n`);
  const pressure = pressureTotals();
  const started = performance.now();
  try {
    results[name] = await bench();
  } catch (err) {
    results[name] = { error: String(err) };
  }
  // How much the machine itself stalled meanwhile: shared cores and disks make runs differ. A
  // bench that measured its own window (the load phase) keeps its figures.
  const own = results[name] as Record<string, unknown>;
  for (const [key, value] of Object.entries(pressureSince(pressure, performance.now() - started)))
    own[key] ??= value;
  const rows = Object.entries(results[name] as Record<string, unknown>).map(([metric, value]) => ({
    metric,
    value,
  }));
  console.log(`\n${name}`);
  console.table(rows);
}
console.log(JSON.stringify(results, null, 2));
const dir = path.resolve('bench-results');
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, `bench-${Date.now()}.json`), `${JSON.stringify(results, null, 2)}\n`);
process.exit(0);
