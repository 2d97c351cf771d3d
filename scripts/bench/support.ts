import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '@taskstream/platform';

/** DATABASE_URL when set, else a fresh embedded PostgreSQL with default (durable) settings. */
export async function benchDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'taskstream-bench-'));
  await chmod(dataDir, 0o755); // as root, the server runs as the postgres user and must reach it
  const database = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'bench' });
  return {
    url: database.url,
    async stop() {
      await database.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Environment of a bench runtime: its database, any free port, quiet logs, no demo users. */
export function benchEnv(databaseUrl: string, extra: Record<string, string | undefined> = {}) {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    PORT: '0',
    LOG_LEVEL: 'warn',
    SEED_DEMO_USERS: 'false',
    NODE_ENV: 'production',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
    ...extra,
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Linux pressure stall totals (µs since boot): time some task waited for a CPU, and time every
 * task waited for I/O. Undefined where /proc/pressure is missing.
 */
export function pressureTotals(): { cpuSome: number; ioFull: number } | undefined {
  try {
    const total = (file: string, kind: string) => {
      const line = readFileSync(`/proc/pressure/${file}`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(kind));
      return Number(/total=(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN);
    };
    return { cpuSome: total('cpu', 'some'), ioFull: total('io', 'full') };
  } catch {
    return undefined;
  }
}

/** Share of a run's wall time (%) the machine stalled on CPU and on I/O: how noisy the run was. */
export function pressureSince(
  before: ReturnType<typeof pressureTotals>,
  elapsedMs: number,
): Record<string, number> {
  const after = pressureTotals();
  if (!before || !after || elapsedMs <= 0) return {};
  const pct = (us: number) => round((us / 1000 / elapsedMs) * 100, 1);
  return {
    machine_cpu_pressure_pct: pct(after.cpuSome - before.cpuSome),
    machine_io_stall_pct: pct(after.ioFull - before.ioFull),
  };
}
