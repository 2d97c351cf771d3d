import pg from 'pg';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

// bigint (int8) comes back as a JS number: our counters (sequences, event ids) stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** How long a connection attempt and one statement may take (0: unbounded), see DATABASE_*_TIMEOUT_MS. */
export interface PoolBounds {
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

export const poolBounds = (
  config: Pick<Config, 'DATABASE_CONNECT_TIMEOUT_MS' | 'DATABASE_STATEMENT_TIMEOUT_MS'>,
): PoolBounds => ({
  connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
});

/**
 * The client waits this much longer than the server's statement_timeout: a live server cancels
 * the statement itself (and says so); only a server that cannot answer at all (frozen, cut off)
 * makes the client give up, and then drop that connection.
 */
const CLIENT_GRACE_MS = 1000;
/** setTimeout's largest delay: "no bound" for one statement on a bounded pool (migrations). */
const UNBOUNDED_MS = 2 ** 31 - 1;

export function createPool(connectionString: string, max = 20, bounds: PoolBounds = {}): Pool {
  const statementMs = bounds.statementTimeoutMs ?? 0;
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30000,
    // Also bounds the wait for a free connection of a busy pool.
    connectionTimeoutMillis: bounds.connectTimeoutMs ?? 0,
    ...(statementMs > 0
      ? { statement_timeout: statementMs, query_timeout: statementMs + CLIENT_GRACE_MS }
      : {}),
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `work` in one transaction; rolls back when it throws. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query('BEGIN');
    result = await work(client);
    await client.query('COMMIT');
  } catch (err) {
    // A connection that timed out or broke may still have our statement in flight: it is
    // dropped, not rolled back and reused (a ROLLBACK would only wait for the same silence).
    if (isDatabaseUnavailable(err)) {
      client.release(err as Error);
      throw err;
    }
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    throw err;
  }
  client.release();
  return result;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// pg and pg-pool say these in words only, without a code.
const UNREACHABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable|Connection ended/i;

/**
 * True when `err` says the database cannot be reached or cannot answer now (down, frozen,
 * restarting, out of connections, a statement cut off by statement_timeout), as opposed to a
 * query it refused: the caller can only try again later (HTTP 503, ADR 0011).
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') {
    // SQLSTATE class 08 (connection), 57P01-03 (shutting down, starting up), 53300 (too many
    // connections), 57014 (cancelled: statement_timeout).
    if (/^(08...|57P0[1-3]|53300|57014)$/.test(e.code) || UNREACHABLE_CODES.has(e.code)) return true;
  }
  if (typeof e.message === 'string' && !(typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)))
    if (UNREACHABLE_MESSAGES.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1)))
    return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}

export interface Migration {
  /** Sortable and never renamed once released, e.g. `001_tasks`. */
  id: string;
  sql: string;
}

/**
 * Applies a service's migrations once each, in id order. An advisory lock keeps replicas
 * that start together from racing.
 */
export async function runMigrations(pool: Pool, service: string, migrations: Migration[], logger?: Logger) {
  await withTransaction(pool, async (client) => {
    // A migration may rewrite a large table, and another replica may hold the lock while it
    // does: neither is bound by DATABASE_STATEMENT_TIMEOUT_MS (pg reads query_timeout per query
    // too; its types know it only for the connection).
    const unbounded = (text: string) => ({ text, query_timeout: UNBOUNDED_MS }) as pg.QueryConfig;
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query(unbounded(`SELECT pg_advisory_xact_lock(hashtext('taskstream_migrations'))`));
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      service text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (service, id))`);
    const { rows } = await client.query<{ id: string }>(
      'SELECT id FROM schema_migrations WHERE service = $1',
      [service],
    );
    const applied = new Set(rows.map((r) => r.id));
    for (const migration of [...migrations].sort((a, b) => a.id.localeCompare(b.id))) {
      if (applied.has(migration.id)) continue;
      await client.query(unbounded(migration.sql));
      await client.query('INSERT INTO schema_migrations (service, id) VALUES ($1, $2)', [
        service,
        migration.id,
      ]);
      logger?.info({ service, migration: migration.id }, 'migration applied');
    }
  });
}

export interface MigrationScopeStatus {
  scope: string;
  applied: { id: string; applied_at: string }[];
  pending: string[];
}

/**
 * What schema_migrations records, per scope, and which of the `known` migrations are not
 * applied yet (a process knows its own; other services' scopes show what they applied).
 */
export async function migrationStatus(
  pool: Queryable,
  known: Record<string, Migration[]>,
): Promise<MigrationScopeStatus[]> {
  const exists = (await pool.query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS ok`)).rows[0].ok;
  const { rows } = exists
    ? await pool.query<{ service: string; id: string; applied_at: Date }>(
        'SELECT service, id, applied_at FROM schema_migrations ORDER BY service, id',
      )
    : { rows: [] };
  const scopes = new Map<string, MigrationScopeStatus>();
  const scopeOf = (scope: string) => {
    const status = scopes.get(scope) ?? { scope, applied: [], pending: [] };
    scopes.set(scope, status);
    return status;
  };
  for (const row of rows)
    scopeOf(row.service).applied.push({ id: row.id, applied_at: row.applied_at.toISOString() });
  for (const [scope, migrations] of Object.entries(known)) {
    const status = scopeOf(scope);
    const applied = new Set(status.applied.map((a) => a.id));
    status.pending = migrations
      .map((m) => m.id)
      .filter((id) => !applied.has(id))
      .sort();
  }
  return [...scopes.values()].sort((a, b) => a.scope.localeCompare(b.scope));
}
