import { randomBytes } from 'node:crypto';
import {
  ChangePasswordBody,
  CreateUserBody,
  DisableUserBody,
  LoginBody,
  type RegisterAccepted,
  RegisterBody,
  type User,
} from '@taskstream/contracts';
import {
  type Auth,
  conflict,
  createPool,
  createSecurityAudit,
  HttpError,
  type Logger,
  notFound,
  type Pool,
  parse,
  principalOf,
  requireAppToken,
  type ServiceDeps,
} from '@taskstream/platform';
import { type ErrorRequestHandler, type Request, Router } from 'express';
import { v7 as uuidv7 } from 'uuid';
import { createAuthLimits, RetryLaterError } from './auth-limits.js';
import { checkPasswordPolicy } from './password-policy.js';
import { createPasswordHasher, needsRehash, type PasswordHasher } from './passwords.js';
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

/** Inserts an account; undefined when the email already has one (lower-cased comparison). */
async function insertUser(
  pool: Pool,
  input: { email: string; name: string; role?: 'user' | 'admin'; passwordHash: string },
): Promise<User | undefined> {
  const { rows } = await pool.query<UserRow>(
    `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING *`,
    [uuidv7(), input.email, input.name, input.role ?? 'user', input.passwordHash],
  );
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Read at each login (not the per-process list the token check keeps): exact across replicas. */
const isDisabled = async (pool: Pool, userId: string) =>
  ((await pool.query('SELECT 1 FROM disabled_users WHERE user_id = $1', [userId])).rowCount ?? 0) > 0;

const findByEmail = async (pool: Pool, email: string) =>
  (await pool.query<UserRow>('SELECT * FROM users WHERE lower(email) = lower($1)', [email])).rows[0];

const issueToken = (auth: Auth, user: User) =>
  auth.sign({ userId: user.id, role: user.role, email: user.email, name: user.name });

/** Connections of the login and registration routes (ADR 0015). */
const AUTH_POOL_SIZE = 2;

const REGISTER_ANSWER: RegisterAccepted = {
  status: 'accepted',
  message: 'if this address can be registered, the account is ready: log in with it and the password',
};

/** Password routes are off when an external issuer signs users in (JWKS_URL). */
const externalIdentities = () =>
  new HttpError(
    403,
    'external_identity_provider',
    'this deployment signs users in through an external identity provider (JWKS_URL): password login, registration and password change are off',
  );

/** Sets Retry-After on the 429s of the limits and the 503s of the password bulkhead. */
const retryAfter: ErrorRequestHandler = (err, _req, res, next) => {
  if (err instanceof RetryLaterError) res.setHeader('retry-after', String(err.retryAfterSeconds));
  next(err);
};

/**
 * Accounts: register, log in, change the password, an admin creating an account, and the
 * service-invocation lookup. Attempts are limited per client address and account, password work
 * is bounded, and no answer or timing tells whether an email has an account (ADR 0015).
 */
export function authRoutes(
  deps: ServiceDeps,
  hasher: PasswordHasher,
): { router: Router; stop(): Promise<void> } {
  const { pool, auth, config, ports, logger, accounts } = deps;
  const external = Boolean(config.JWKS_URL);
  // Logins and registrations query on connections of their own: a flood of them waits here
  // instead of in front of every other request on the shared pool.
  const authPool = createPool(config.DATABASE_URL!, AUTH_POOL_SIZE);
  const limits = createAuthLimits(authPool, {
    attempts: config.AUTH_RATE_LIMIT_ATTEMPTS,
    windowSeconds: config.AUTH_RATE_LIMIT_WINDOW_SECONDS,
  });
  const audit = createSecurityAudit(ports.bus, '/taskstream/task-api', logger);
  const addressOf = (req: Request) => req.ip ?? 'unknown';
  const router = Router();

  // Service invocation only (notification looks up where to mail a reminder).
  router.get('/internal/users/:id', requireAppToken(config.APP_API_TOKEN), async (req, res) => {
    const id = String(req.params.id);
    const { rows } = isUuid(id)
      ? await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])
      : { rows: [] };
    if (!rows[0]) throw new HttpError(404, 'not_found', 'user not found');
    res.json(toUser(rows[0]));
  });

  router.post('/api/auth/register', async (req, res) => {
    if (external) throw externalIdentities();
    if (config.REGISTRATION === 'closed')
      throw new HttpError(403, 'registration_closed', 'registration is closed: an admin creates accounts');
    // Counted before anything else: a stream of bad bodies spends the budget too.
    await limits.register(addressOf(req));
    const body = parse(RegisterBody, req.body);
    checkPasswordPolicy(body.password, body);
    // Hashed whether or not the address is taken: both answers cost the same.
    const passwordHash = await hasher.hash(body.password);
    const user = await insertUser(authPool, { ...body, passwordHash });
    await audit(req, {
      action: 'auth.registered',
      actor: user?.id ?? (await findByEmail(authPool, body.email))?.id ?? null,
      subject: body.email,
      payload: { email: body.email, outcome: user ? 'created' : 'already_registered', by: 'self' },
    });
    res.status(202).json(REGISTER_ANSWER);
  });

  router.post('/api/auth/login', async (req, res) => {
    if (external) throw externalIdentities();
    const body = parse(LoginBody, req.body);
    const address = addressOf(req);
    const failed = (
      actor: string | null,
      reason: 'wrong_credentials' | 'rate_limited' | 'busy' | 'account_disabled',
    ) =>
      audit(req, {
        action: 'auth.login_failed',
        actor,
        subject: body.email,
        payload: { email: body.email, reason },
      });
    const row = await findByEmail(authPool, body.email);
    let ok: boolean;
    try {
      await limits.login(address, body.email);
      // Same answer and cost for an unknown email and a wrong password: no account probing.
      ok = await hasher.verify(body.password, row?.password_hash);
    } catch (err) {
      if (err instanceof RetryLaterError)
        await failed(row?.id ?? null, err.status === 429 ? 'rate_limited' : 'busy');
      throw err;
    }
    if (!row || !ok) {
      await failed(row?.id ?? null, 'wrong_credentials');
      throw new HttpError(401, 'invalid_credentials', 'email or password is wrong');
    }
    // Told only to whoever knows the password: the answer says nothing more to anyone else.
    if (await isDisabled(authPool, row.id)) {
      await failed(row.id, 'account_disabled');
      throw new HttpError(403, 'account_disabled', 'this account is disabled: ask an admin');
    }
    await limits.loginSucceeded(address, body.email);
    if (needsRehash(row.password_hash)) await rehash(row, body.password, req);
    const user = toUser(row);
    await audit(req, {
      action: 'auth.login_succeeded',
      actor: user.id,
      subject: user.email,
      payload: { email: user.email },
    });
    res.json({ user, token: await issueToken(auth, user) });
  });

  /** A hash of older parameters is replaced at login, while the password is at hand. */
  async function rehash(row: UserRow, password: string, req: Request) {
    try {
      const passwordHash = await hasher.hash(password);
      await pool.query('UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3', [
        row.id,
        passwordHash,
        row.password_hash,
      ]);
    } catch (err) {
      // Busy: the next login rehashes.
      req.log.warn({ err }, 'password not rehashed');
    }
  }

  router.post('/api/auth/password', auth.requireUser, async (req, res) => {
    if (external) throw externalIdentities();
    const body = parse(ChangePasswordBody, req.body);
    const { userId } = principalOf(req);
    const { rows } = await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [userId]);
    const row = rows[0];
    if (!row) throw new HttpError(404, 'not_found', 'user not found');
    await limits.passwordChange(addressOf(req), row.email);
    if (!(await hasher.verify(body.current_password, row.password_hash)))
      throw new HttpError(401, 'invalid_credentials', 'current_password is wrong');
    checkPasswordPolicy(body.new_password, row);
    const passwordHash = await hasher.hash(body.new_password);
    await pool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, passwordHash]);
    await limits.loginSucceeded(addressOf(req), row.email);
    await audit(req, { action: 'auth.password_changed', actor: userId, subject: row.email, payload: {} });
    res.status(204).end();
  });

  router.post('/api/admin/users', auth.requireUser, auth.requireAdmin, async (req, res) => {
    if (external) throw externalIdentities();
    const body = parse(CreateUserBody, req.body);
    checkPasswordPolicy(body.password, body);
    const user = await insertUser(pool, { ...body, passwordHash: await hasher.hash(body.password) });
    if (!user) throw conflict('a user with this email already exists');
    await audit(req, {
      action: 'auth.registered',
      actor: principalOf(req).userId,
      subject: user.email,
      payload: { email: user.email, outcome: 'created', by: 'admin' },
    });
    res.status(201).json({ user });
  });

  /** By id or email; refused for the caller's own account (an admin would lock themselves out). */
  router.post('/api/admin/users/:id/disable', auth.requireUser, auth.requireAdmin, async (req, res) => {
    const body = parse(DisableUserBody, req.body ?? {});
    const ref = String(req.params.id);
    const { rows } = await pool.query<UserRow>(
      isUuid(ref)
        ? 'SELECT * FROM users WHERE id = $1'
        : 'SELECT * FROM users WHERE lower(email) = lower($1)',
      [ref],
    );
    const row = rows[0];
    if (!row) throw notFound('user');
    const actor = principalOf(req).userId;
    if (row.id === actor)
      throw new HttpError(400, 'validation_failed', 'an admin cannot disable their own account');
    const disabledAt = await accounts.disable(row.id, actor, body.reason);
    req.log.info({ user_id: row.id }, 'user disabled');
    await audit(req, {
      action: 'admin.user_disabled',
      actor,
      subject: row.email,
      payload: { user_id: row.id, email: row.email, ...(body.reason ? { reason: body.reason } : {}) },
    });
    res.json({ user: { id: row.id, email: row.email, disabled_at: disabledAt.toISOString() } });
  });

  router.get('/api/auth/me', auth.requireUser, async (req, res) => {
    const principal = principalOf(req);
    let { rows } = await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [principal.userId]);
    if (!rows[0] && external && principal.email) {
      // An external user's first visit: the account (for reminder mail) is made from the token's
      // claims, with a password hash nothing verifies against.
      await pool.query(
        `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, 'user', '!')
         ON CONFLICT DO NOTHING`,
        [principal.userId, principal.email, principal.name ?? principal.email],
      );
      ({ rows } = await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [principal.userId]));
    }
    if (!rows[0]) throw new HttpError(404, 'not_found', 'user not found');
    // An external issuer's role claim decides for its users (the row only holds where to mail).
    res.json({ user: { ...toUser(rows[0]), ...(external ? { role: principal.role } : {}) } });
  });

  router.use(retryAfter);
  return { router, stop: () => authPool.end() };
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
  hasher: PasswordHasher,
  options: { seed: boolean; published: boolean } = { seed: true, published: true },
) {
  for (const demo of DEMO_USERS) {
    const existing = await findByEmail(pool, demo.email);
    if (options.published) {
      if (!existing && options.seed)
        await insertUser(pool, { ...demo, passwordHash: await hasher.hashNow(demo.password) });
      continue;
    }
    const password = randomBytes(18).toString('base64url');
    if (!existing) {
      if (!options.seed) continue;
      await insertUser(pool, { ...demo, passwordHash: await hasher.hashNow(password) });
      logger.warn(
        { email: demo.email, role: demo.role, password },
        'demo user created with a random password',
      );
    } else if (await hasher.verify(demo.password, existing.password_hash)) {
      await pool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [
        existing.id,
        await hasher.hashNow(password),
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

export { createPasswordHasher };
