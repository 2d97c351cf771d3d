import { createHash } from 'node:crypto';
import { HttpError, type Pool } from '@taskstream/platform';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

/** The limiter's table (created by task-api's migrations, in the shape rate-limiter-flexible uses). */
export const RATE_LIMIT_TABLE = 'auth_rate_limits';

export interface AuthLimitsOptions {
  /** Attempts allowed per key in one window. */
  attempts: number;
  windowSeconds: number;
}

/** An HttpError that also tells the client when to come back (the router sets Retry-After). */
export class RetryLaterError extends HttpError {
  constructor(
    status: 429 | 503,
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(status, code, message, { retry_after_seconds: retryAfterSeconds });
  }
}

/**
 * Attempts at logging in and registering, counted per client address and per account in
 * PostgreSQL, so every replica sees the same counts. An attempt is counted when it starts, not
 * when it failed: 200 guesses sent at once must not all pass the check before the first one
 * fails. A successful login takes its attempt back from the address and clears the account's.
 */
export function createAuthLimits(pool: Pool, options: AuthLimitsOptions) {
  const limiter = new RateLimiterPostgres({
    storeClient: pool,
    storeType: 'pool',
    tableName: RATE_LIMIT_TABLE,
    tableCreated: true,
    points: options.attempts,
    duration: options.windowSeconds,
  });

  async function take(keys: string[], what: string) {
    const refused: RateLimiterRes[] = [];
    for (const key of keys) {
      try {
        await limiter.consume(key);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        refused.push(err);
      }
    }
    if (refused.length === 0) return;
    const seconds = Math.max(1, ...refused.map((r) => Math.ceil(r.msBeforeNext / 1000)));
    throw new RetryLaterError(
      429,
      'too_many_attempts',
      `too many ${what} attempts; try again later`,
      seconds,
    );
  }

  // A digest of the address, not the address: the table's key is a varchar(255) and an email may
  // have 254 characters (a longer key failed the login with a 500), and the table then holds no
  // addresses either.
  const accountKey = (email: string) =>
    `login:account:${createHash('sha256').update(email.toLowerCase()).digest('base64url')}`;
  return {
    login: (address: string, email: string) => take([`login:address:${address}`, accountKey(email)], 'login'),
    async loginSucceeded(address: string, email: string) {
      await limiter.reward(`login:address:${address}`, 1);
      await limiter.delete(accountKey(email));
    },
    register: (address: string) => take([`register:address:${address}`], 'registration'),
    /** A password change checks the current password: the account's login budget applies. */
    passwordChange: (address: string, email: string) =>
      take([`login:address:${address}`, accountKey(email)], 'password'),
  };
}

export type AuthLimits = ReturnType<typeof createAuthLimits>;
