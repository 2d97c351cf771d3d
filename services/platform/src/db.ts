import pg from 'pg';
import type { Logger } from './logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

// bigint (int8) comes back as a JS number: our counters (sequences, event ids) stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export function createPool(connectionString: string, max = 20): Pool {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30000 });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `work` in one transaction; rolls back when it throws. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
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
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('taskstream_migrations'))`);
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
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (service, id) VALUES ($1, $2)', [
        service,
        migration.id,
      ]);
      logger?.info({ service, migration: migration.id }, 'migration applied');
    }
  });
}
