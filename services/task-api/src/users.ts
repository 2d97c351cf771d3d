import { randomBytes } from 'node:crypto';
import { LoginBody, RegisterBody, type User } from '@taskstream/contracts';
import {
  type Auth,
  conflict,
  HttpError,
  type Logger,
  type Pool,
  parse,
  requireAppToken,
} from '@taskstream/platform';
import { Router } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { hashPassword, verifyPassword } from './passwords.js';
import { isUuid } from './task-store.js';

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
  password_hash: string;
  created_at: Date;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  created_at: row.created_at.toISOString(),
});

export async function createUser(
  pool: Pool,
  input: RegisterBody & { role?: 'user' | 'admin' },
): Promise<User> {
  const { rows } = await pool.query<UserRow>(
    `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING *`,
    [uuidv7(), input.email, input.name, input.role ?? 'user', await hashPassword(input.password)],
  );
  if (!rows[0]) throw conflict('a user with this email already exists');
  return toUser(rows[0]);
}

const issueToken = (auth: Auth, user: User) =>
  auth.sign({ userId: user.id, role: user.role, email: user.email, name: user.name });

export function authRoutes(pool: Pool, auth: Auth, appToken?: string): Router {
  const router = Router();
  // Service invocation only (notification looks up where to mail a reminder).
  router.get('/internal/users/:id', requireAppToken(appToken), async (req, res) => {
    const id = String(req.params.id);
    const { rows } = isUuid(id)
      ? await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])
      : { rows: [] };
    if (!rows[0]) throw new HttpError(404, 'not_found', 'user not found');
    res.json(toUser(rows[0]));
  });
  router.post('/api/auth/register', async (req, res) => {
    const body = parse(RegisterBody, req.body);
    const user = await createUser(pool, body);
    res.status(201).json({ user, token: await issueToken(auth, user) });
  });
  router.post('/api/auth/login', async (req, res) => {
    const body = parse(LoginBody, req.body);
    const { rows } = await pool.query<UserRow>('SELECT * FROM users WHERE lower(email) = lower($1)', [
      body.email,
    ]);
    const row = rows[0];
    // Same answer for an unknown email and a wrong password: no account probing.
    if (!row || !(await verifyPassword(body.password, row.password_hash))) {
      throw new HttpError(401, 'invalid_credentials', 'email or password is wrong');
    }
    const user = toUser(row);
    res.json({ user, token: await issueToken(auth, user) });
  });
  router.get('/api/auth/me', auth.requireUser, async (req, res) => {
    const { rows } = await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [req.principal!.userId]);
    if (!rows[0]) throw new HttpError(404, 'not_found', 'user not found');
    res.json({ user: toUser(rows[0]) });
  });
  return router;
}

export const DEMO_USERS = [
  { email: 'alice@example.com', password: 'alice-password', name: 'Alice', role: 'user' as const },
  { email: 'bob@example.com', password: 'bob-password', name: 'Bob', role: 'user' as const },
  { email: 'admin@example.com', password: 'admin-password', name: 'Admin', role: 'admin' as const },
];

/**
 * Creates the demo accounts once; later starts leave them (and any changed password) alone.
 *
 * Their passwords are published (README), so a public deployment (`published: false`, i.e.
 * production) never gets them: a demo account is created there only when asked for, with a
 * random password printed once, and one still holding its published password (seeded by an
 * earlier start) gets a random one too, whether or not seeding is asked for.
 */
export async function seedDemoUsers(
  pool: Pool,
  logger: Logger,
  options: { seed: boolean; published: boolean } = { seed: true, published: true },
) {
  for (const demo of DEMO_USERS) {
    const { rows } = await pool.query<{ id: string; password_hash: string }>(
      'SELECT id, password_hash FROM users WHERE lower(email) = lower($1)',
      [demo.email],
    );
    const existing = rows[0];
    if (options.published) {
      if (!existing && options.seed) await createUser(pool, demo).catch(() => undefined);
      continue;
    }
    const password = randomBytes(18).toString('base64url');
    if (!existing) {
      if (!options.seed) continue;
      await createUser(pool, { ...demo, password });
      logger.warn(
        { email: demo.email, role: demo.role, password },
        'demo user created with a random password',
      );
    } else if (await verifyPassword(demo.password, existing.password_hash)) {
      await pool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [
        existing.id,
        await hashPassword(password),
      ]);
      logger.warn(
        { email: demo.email, role: demo.role, password },
        'demo user still had its published password: replaced by a random one',
      );
    }
  }
  if (options.published && options.seed)
    logger.info(
      { users: DEMO_USERS.map(({ email, password, role }) => `${email} / ${password} (${role})`) },
      'demo users',
    );
}
