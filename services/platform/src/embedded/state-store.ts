import type { Pool } from '../db.js';
import { EtagMismatchError, type SaveOptions, type StateStore, type StoredState } from '../ports.js';

const live = '(expires_at IS NULL OR expires_at > now())';

/** Key/value state with ETag and TTL in a PostgreSQL table; expired rows read as absent. */
export function createEmbeddedStateStore(pool: Pool): StateStore & { purgeExpired(): Promise<number> } {
  return {
    async get<T>(key: string): Promise<StoredState<T> | undefined> {
      const { rows } = await pool.query(`SELECT value, etag FROM state_store WHERE key = $1 AND ${live}`, [
        key,
      ]);
      return rows[0] ? { value: rows[0].value as T, etag: String(rows[0].etag) } : undefined;
    },

    async save<T>(key: string, value: T, options: SaveOptions = {}): Promise<string> {
      const ttl = options.ttlSeconds ?? null;
      const json = JSON.stringify(value);
      if (options.etag !== undefined) {
        const { rows } = await pool.query(
          `UPDATE state_store SET value = $2, etag = nextval('state_store_etag_seq'),
             expires_at = CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(secs => $4::int) END
           WHERE key = $1 AND etag::text = $3 AND ${live} RETURNING etag`,
          [key, json, options.etag, ttl],
        );
        if (!rows[0]) throw new EtagMismatchError(key);
        return String(rows[0].etag);
      }
      const { rows } = await pool.query(
        `INSERT INTO state_store (key, value, etag, expires_at)
         VALUES ($1, $2, nextval('state_store_etag_seq'), CASE WHEN $3::int IS NULL THEN NULL ELSE now() + make_interval(secs => $3::int) END)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at
         RETURNING etag`,
        [key, json, ttl],
      );
      return String(rows[0].etag);
    },

    async delete(key: string, options: { etag?: string } = {}): Promise<void> {
      if (options.etag === undefined) {
        await pool.query('DELETE FROM state_store WHERE key = $1', [key]);
        return;
      }
      const { rowCount } = await pool.query(
        `DELETE FROM state_store WHERE key = $1 AND etag::text = $2 AND ${live}`,
        [key, options.etag],
      );
      if (!rowCount) throw new EtagMismatchError(key);
    },

    async purgeExpired() {
      const { rowCount } = await pool.query('DELETE FROM state_store WHERE expires_at <= now()');
      return rowCount ?? 0;
    },
  };
}
