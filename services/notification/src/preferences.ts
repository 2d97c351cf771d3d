import { Preferences } from '@taskstream/contracts';
import type { Pool, Principal, Queryable } from '@taskstream/platform';
import type { z } from 'zod';

export type UserPreferences = z.infer<typeof Preferences>;

/** A user who never saved preferences gets every channel and no quiet hours. */
export const DEFAULT_PREFERENCES: UserPreferences = Preferences.parse({});

export async function preferencesOf(db: Queryable, userId: string): Promise<UserPreferences> {
  const { rows } = await db.query(
    'SELECT channels, quiet_hours FROM notification_preferences WHERE user_id = $1',
    [userId],
  );
  if (!rows[0]) return DEFAULT_PREFERENCES;
  return { channels: rows[0].channels, quiet_hours: rows[0].quiet_hours ?? null };
}

export async function savePreferences(
  pool: Pool,
  userId: string,
  prefs: UserPreferences,
): Promise<UserPreferences> {
  const channels = [...new Set(prefs.channels)];
  await pool.query(
    `INSERT INTO notification_preferences (user_id, channels, quiet_hours, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (user_id) DO UPDATE SET channels = EXCLUDED.channels, quiet_hours = EXCLUDED.quiet_hours, updated_at = now()`,
    [userId, channels, prefs.quiet_hours === null ? null : JSON.stringify(prefs.quiet_hours)],
  );
  return { channels, quiet_hours: prefs.quiet_hours };
}

/**
 * Where reminder mail goes: the email claim of the user's own token, remembered whenever the user
 * calls this service (the web UI loads preferences and the inbox after login).
 */
export function createContactBook(pool: Pool) {
  const known = new Map<string, string>();
  return async function remember(principal: Principal) {
    const email = principal.email?.trim();
    if (!email || known.get(principal.userId) === email) return;
    await pool.query(
      `INSERT INTO notification_contacts (user_id, email, name, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, updated_at = now()
       WHERE notification_contacts.email IS DISTINCT FROM EXCLUDED.email OR notification_contacts.name IS DISTINCT FROM EXCLUDED.name`,
      [principal.userId, email, principal.name ?? null],
    );
    known.set(principal.userId, email);
  };
}
