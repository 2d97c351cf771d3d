import type { Migration, Pool } from './db.js';
import { newId } from './trace.js';

/**
 * An external issuer's subjects (JWKS_URL) become internal user ids: `sub` is whatever the
 * issuer uses (an email, "auth0|123", a number), while every table keys users by uuid. One row
 * per (issuer, subject), made on the first token that names it. Shared by all services: each
 * one verifies tokens itself and must reach the same id.
 */
export const identityMigrations: Migration[] = [
  {
    id: '001_external_identities',
    sql: `
      CREATE TABLE IF NOT EXISTS external_identities (
        issuer text NOT NULL,
        subject text NOT NULL,
        user_id uuid NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (issuer, subject)
      );
    `,
  },
];

/** Subjects already mapped, per process (a mapping never changes). */
const CACHE_SIZE = 10_000;

export function createIdentityMap(pool: Pool) {
  const known = new Map<string, string>();
  return async function userIdOf(issuer: string, subject: string): Promise<string> {
    const key = `${issuer}\u0000${subject}`;
    const cached = known.get(key);
    if (cached) return cached;
    const select = () =>
      pool.query<{ user_id: string }>(
        'SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2',
        [issuer, subject],
      );
    let { rows } = await select();
    if (!rows[0]) {
      // Two first requests at once: one insert wins; the other's statement cannot see that row
      // (its snapshot is older), so it looks again in a statement of its own.
      ({ rows } = await pool.query<{ user_id: string }>(
        `INSERT INTO external_identities (issuer, subject, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (issuer, subject) DO NOTHING RETURNING user_id`,
        [issuer, subject, newId()],
      ));
      if (!rows[0]) ({ rows } = await select());
    }
    const userId = rows[0]?.user_id;
    if (!userId) throw new Error(`no user id for subject ${subject} of ${issuer}`);
    if (known.size >= CACHE_SIZE) known.delete(known.keys().next().value!);
    known.set(key, userId);
    return userId;
  };
}
