import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { BulkheadRejectedError, bulkhead } from 'cockatiel';
import { RetryLaterError } from './auth-limits.js';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object,
) => Promise<Buffer>;

/**
 * OWASP's scrypt equivalent at 32 MiB (N=2^15, r=8, p=3) instead of its 128 MiB floor
 * (N=2^17, p=1): about the same work per guess, a quarter of the memory per check, so that the
 * checks the bulkhead lets run at once fit task-api's 384 MiB limit with room (ADR 0015).
 */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 3 } as const;
/** Memory scrypt needs is 128·N·r bytes; the largest hash we accept to verify (old N=2^17 ones). */
const MAX_N = 2 ** 17;
const MAX_R = 8;
const MAX_P = 16;
const MAXMEM = 128 * MAX_N * MAX_R + 1024 * 1024;
const KEY_LENGTH = 32;

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(stored: string): Parsed | undefined {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (scheme !== 'scrypt' || !salt || !hash) return undefined;
  // A stored hash is ours, but a bad row must not make one check take gigabytes.
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return undefined;
  if (!Number.isInteger(R) || R < 1 || R > MAX_R || !Number.isInteger(P) || P < 1 || P > MAX_P)
    return undefined;
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

const derive = (
  password: string,
  salt: Buffer,
  length: number,
  params: { N: number; r: number; p: number },
) => scryptAsync(password.normalize('NFKC'), salt, length, { ...params, maxmem: MAXMEM });

/** `scrypt$N$r$p$salt$hash`, so the parameters can change without breaking old hashes. */
async function hashRaw(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, KEY_LENGTH, SCRYPT_PARAMS);
  const { N, r, p } = SCRYPT_PARAMS;
  return ['scrypt', N, r, p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

async function verifyRaw(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const actual = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(actual, parsed.hash);
}

/** True when a stored hash was made with other parameters than today's (rehash it at the next login). */
export function needsRehash(stored: string): boolean {
  const parsed = parseHash(stored);
  return (
    !parsed || parsed.N !== SCRYPT_PARAMS.N || parsed.r !== SCRYPT_PARAMS.r || parsed.p !== SCRYPT_PARAMS.p
  );
}

export interface PasswordHasherOptions {
  /** Checks and hashes running at once. */
  concurrency: number;
  /** Further ones waiting; beyond that a 503 with Retry-After. */
  queue: number;
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

/**
 * Password hashing and checking with a bound on the work in flight: each check holds 32 MiB and
 * a core for a while, so an unbounded burst of logins would exhaust the memory limit and starve
 * every other request. Callers beyond the concurrency wait in a short queue; beyond the queue
 * they get 503 at once.
 */
export function createPasswordHasher(options: PasswordHasherOptions) {
  const gate = bulkhead(options.concurrency, options.queue);
  // A hash of a random password: an unknown email is checked against it, so it costs what a known one does.
  let dummy: Promise<string> | undefined;

  async function bounded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await gate.execute(work);
    } catch (err) {
      if (err instanceof BulkheadRejectedError)
        throw new RetryLaterError(503, 'busy', 'too many password checks at once; try again shortly', 1);
      throw err;
    }
  }

  return {
    hash: (password: string) => bounded(() => hashRaw(password)),
    /** Checks `password` against `stored`, or against a dummy hash at the same cost when there is none. */
    verify: (password: string, stored: string | undefined) =>
      bounded(async () => {
        if (stored) return verifyRaw(password, stored);
        dummy ??= hashRaw(randomBytes(16).toString('base64url'));
        await verifyRaw(password, await dummy);
        return false;
      }),
    /** Hashes without waiting in line (demo accounts at start). */
    hashNow: hashRaw,
  };
}
