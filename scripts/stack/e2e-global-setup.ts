/**
 * Jest global setup of the `e2e` project: the tests need the real stack; say so at once rather
 * than let every test time out against closed ports. Self-contained on purpose: Jest loads
 * global setup files without the project's module mapping, so `./sidecar.js` would not resolve.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';

function portOpen(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port), timeout: 2000 });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

export default async function e2eGlobalSetup(_global: unknown, project: { rootDir: string }) {
  const hint = 'start it with `bash scripts/stack/stack.sh up` (see docs/adr/0003-local-dapr-stack.md)';
  const file = path.join(project.rootDir, '.stack', 'env');
  if (!existsSync(file))
    throw new Error(`e2e tests need the local Dapr stack, but ${file} is missing; ${hint}`);
  const env = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const pg = new URL(env.DATABASE_URL);
  const checks: [string, string][] = [
    ['PostgreSQL', `${pg.hostname}:${pg.port}`],
    ['Kafka', env.KAFKA_BROKERS.split(',')[0]],
    ['Dapr scheduler', env.DAPR_SCHEDULER_ADDRESS],
  ];
  const down: string[] = [];
  for (const [name, address] of checks) if (!(await portOpen(address))) down.push(`${name} (${address})`);
  if (!existsSync(env.DAPRD)) down.push(`daprd binary (${env.DAPRD})`);
  if (down.length)
    throw new Error(`e2e tests need the local Dapr stack, but these are not up: ${down.join(', ')}; ${hint}`);
}
