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
  {
    // Disabled accounts (ADR 0024): here, beside the identity map, because every service
    // verifies tokens itself and must refuse a disabled user's, not only task-api.
    id: '002_disabled_users',
    sql: `
      CREATE TABLE IF NOT EXISTS disabled_users (
        user_id uuid PRIMARY KEY,
        disabled_at timestamptz NOT NULL DEFAULT now(),
        disabled_by text NOT NULL,
        reason text
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

/** How long a process trusts its list of disabled accounts before reading it again. */
const DISABLED_REFRESH_MS = 5_000;

export interface Accounts {
  /** Whether the account is disabled (as of at most DISABLED_REFRESH_MS ago, at once in this process). */
  isDisabled(userId: string): Promise<boolean>;
  /** Disables an account; returns when it was disabled (the first time, if it already was). */
  disable(userId: string, actor: string, reason?: string): Promise<Date>;
}

/**
 * Disabled accounts, for the token check of every request: the few ids are read whole and kept
 * for a few seconds, so a request costs no query; another replica refuses a disabled user's
 * tokens within DISABLED_REFRESH_MS. When the list cannot be read (the database is away, the
 * table not yet migrated) the last one read stays in use: those requests fail on the database anyway.
 */
export function createAccounts(pool: Pool): Accounts {
  let disabled = new Set<string>();
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const read = async () => {
    try {
      const { rows } = await pool.query<{ user_id: string }>('SELECT user_id FROM disabled_users');
      disabled = new Set(rows.map((r) => r.user_id));
    } catch {
      // Kept: see above. Tried again on the next request after the interval.
    }
    readAt = Date.now();
  };
  return {
    async isDisabled(userId) {
      if (Date.now() - readAt > DISABLED_REFRESH_MS) {
        reading ??= read().finally(() => {
          reading = undefined;
        });
        await reading;
      }
      return disabled.has(userId);
    },
    async disable(userId, actor, reason) {
      const { rows } = await pool.query<{ disabled_at: Date }>(
        `INSERT INTO disabled_users (user_id, disabled_by, reason) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING disabled_at`,
        [userId, actor, reason ?? null],
      );
      disabled.add(userId);
      return rows[0]!.disabled_at;
    },
  };
}
