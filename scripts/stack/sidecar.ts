/**
 * For e2e tests against the real local stack (`bash scripts/stack/stack.sh up`): read the
 * stack's settings from `.stack/env`, and run a daprd beside an app the test itself serves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface StackEnv {
  DATABASE_URL: string;
  KAFKA_BROKERS: string;
  KAFKA_CLASSPATH_FILE: string;
  DAPRD: string;
  DAPR_SCHEDULER_ADDRESS: string;
  DAPR_RESOURCES_PATH: string;
  DAPR_CONFIG: string;
  DAPR_API_TOKEN: string;
  APP_API_TOKEN: string;
  /** The secret every app of the stack signs and checks user tokens with. */
  JWT_SECRET?: string;
  /** `<app id>=<url>,…`: where each service of the stack serves its REST API. */
  STACK_APPS?: string;
}

const REQUIRED: (keyof StackEnv)[] = [
  'DATABASE_URL',
  'KAFKA_BROKERS',
  'KAFKA_CLASSPATH_FILE',
  'DAPRD',
  'DAPR_SCHEDULER_ADDRESS',
  'DAPR_RESOURCES_PATH',
  'DAPR_CONFIG',
  'DAPR_API_TOKEN',
  'APP_API_TOKEN',
];

/** `.stack/env`, written by `stack.sh up`; throws a message that says what to run when absent. */
export function readStackEnv(root = repoRoot): StackEnv {
  const file = path.join(root, '.stack', 'env');
  if (!existsSync(file))
    throw new Error(`${file} is missing: start the stack with \`bash scripts/stack/stack.sh up\``);
  const values: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values[line.slice(0, at)] = line.slice(at + 1);
  }
  const missing = REQUIRED.filter((k) => !values[k]);
  if (missing.length)
    throw new Error(`${file} lacks ${missing.join(', ')}: run \`bash scripts/stack/stack.sh up\` again`);
  return values as unknown as StackEnv;
}

/** The stack's services by app id → base URL of their REST API (from `STACK_APPS`). */
export function stackAppUrls(env: StackEnv = readStackEnv()): Record<string, string> {
  if (!env.STACK_APPS)
    throw new Error('.stack/env lacks STACK_APPS: run `bash scripts/stack/stack.sh up` again');
  return Object.fromEntries(
    env.STACK_APPS.split(',').map((entry) => [
      entry.slice(0, entry.indexOf('=')),
      entry.slice(entry.indexOf('=') + 1),
    ]),
  );
}

/** A port the OS says is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Sidecar {
  appId: string;
  httpPort: number;
  /** What `createDaprPorts` needs to talk to this sidecar. */
  config: { DAPR_HOST: string; DAPR_HTTP_PORT: number; DAPR_API_TOKEN: string; APP_API_TOKEN: string };
  /** Everything daprd logged so far. */
  logs(): string;
  close(): Promise<void>;
}

export interface SidecarOptions {
  appId: string;
  appPort: number;
  /** The sidecar's HTTP port, when the app must know it before the sidecar starts. */
  httpPort?: number;
  env?: StackEnv;
  /** How long to wait for `/v1.0/healthz` to answer 204 (it waits for the app port). */
  readyTimeoutMs?: number;
}

/**
 * Starts daprd for an app already listening on `appPort`, with the stack's components,
 * Resiliency and Configuration, and waits until it is healthy. The components are the files in
 * dapr-components/local as they are, except that the test's app id joins their `scopes` (a copy
 * in a temp dir): a test app never shares a consumer group, job namespace or state keys with the
 * real services.
 */
export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const env = options.env ?? readStackEnv();
  const httpPort = options.httpPort ?? (await freePort());
  const [grpcPort, metricsPort] = [await freePort(), await freePort()];
  const resources = scopedResources(env.DAPR_RESOURCES_PATH, options.appId);
  let output = '';
  const child = spawn(
    env.DAPRD,
    [
      '--app-id',
      options.appId,
      '--app-port',
      String(options.appPort),
      '--app-protocol',
      'http',
      '--dapr-http-port',
      String(httpPort),
      '--dapr-grpc-port',
      String(grpcPort),
      '--dapr-listen-addresses',
      '127.0.0.1',
      '--metrics-port',
      String(metricsPort),
      '--resources-path',
      resources,
      '--config',
      env.DAPR_CONFIG,
      '--scheduler-host-address',
      env.DAPR_SCHEDULER_ADDRESS,
      '--placement-host-address',
      '',
      '--log-as-json',
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DAPR_API_TOKEN: env.DAPR_API_TOKEN,
        APP_API_TOKEN: env.APP_API_TOKEN,
        DAPR_HOST_IP: '127.0.0.1',
      },
    },
  );
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(resources, { recursive: true, force: true });
  };

  try {
    await waitHealthy(child, httpPort, options.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\n--- daprd log ---\n${output.slice(-4000)}`);
  }
  return {
    appId: options.appId,
    httpPort,
    config: {
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: httpPort,
      DAPR_API_TOKEN: env.DAPR_API_TOKEN,
      APP_API_TOKEN: env.APP_API_TOKEN,
    },
    logs: () => output,
    close,
  };
}

async function waitHealthy(child: ChildProcess, port: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daprd exited with code ${child.exitCode}`);
    const status = await fetch(`http://127.0.0.1:${port}/v1.0/healthz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 204) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daprd on port ${port} not healthy after ${timeoutMs} ms`);
}

function scopedResources(dir: string, appId: string): string {
  const out = mkdtempSync(path.join(tmpdir(), `dapr-resources-${appId}-`));
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const docs = parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
      const scopes = doc.get('scopes') as { items?: unknown[]; add?: (v: unknown) => void } | undefined;
      if (scopes?.add) scopes.add(appId);
      return doc.toString();
    });
    writeFileSync(path.join(out, file), docs.join('---\n'));
  }
  return out;
}
