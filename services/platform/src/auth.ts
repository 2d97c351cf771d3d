import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { HttpError, unauthorized } from './errors.js';

export interface Principal {
  userId: string;
  role: 'user' | 'admin';
  email?: string;
  name?: string;
}

declare global {
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

/**
 * Callbacks from the sidecar (`/dapr`, `/events`, `/job`) and the service-invocation-only routes
 * (`/internal/*`) take `dapr-api-token: APP_API_TOKEN` instead of a user's token: daprd sends it
 * on every callback and call, the embedded invoker sends the token the host generated. Compared
 * in constant time. Without a configured token everything is refused: the configuration requires
 * one under Dapr, and a process that got here without one (`migrate` serves nothing) must not
 * take events, job triggers or internal calls from whoever reaches its port.
 */
export function requireAppToken(appToken: string | undefined): RequestHandler {
  const expected = appToken ? Buffer.from(appToken) : undefined;
  return (req, _res, next) => {
    const given = Buffer.from(req.header('dapr-api-token') ?? '');
    if (expected && given.length === expected.length && timingSafeEqual(given, expected)) return next();
    next(
      unauthorized(expected ? 'missing or wrong dapr-api-token' : 'this app has no APP_API_TOKEN configured'),
    );
  };
}

export interface AuthOptions {
  /** HS256 secret (embedded and simple deployments). */
  secret?: string;
  /** Verify an external issuer's tokens instead (RS256/ES256/EdDSA). */
  jwksUrl?: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /**
   * With jwksUrl: the internal user id of the issuer's subject (createIdentityMap). Without it
   * `sub` is taken as the user id, as for tokens this deployment signed.
   */
  userIdOf?: (issuer: string, subject: string) => Promise<string>;
  /** A disabled account's tokens are refused, however long they still run (ADR 0024). */
  isDisabled?: (userId: string) => Promise<boolean>;
}

const HS_ALGS = ['HS256'];
/** Verified tokens remembered: a client sends the same token with every request. */
const VERIFIED_CACHE_SIZE = 10_000;
/** A remembered token is checked again after this long, so that a key taken out of the JWKS ends it soon. */
const VERIFIED_CACHE_MS = 5 * 60 * 1000;
const JWKS_ALGS = ['RS256', 'ES256', 'EdDSA'];

/** Sign and verify JWTs with the algorithm pinned and `exp` required; `alg: none` never passes. */
export function createAuth(options: AuthOptions) {
  if (!options.secret && !options.jwksUrl) throw new Error('auth needs a JWT secret or a JWKS URL');
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks = options.jwksUrl ? issuerKeys(new URL(options.jwksUrl)) : undefined;

  async function sign(principal: Principal): Promise<string> {
    if (!secret) throw new Error('this deployment verifies external tokens and cannot sign');
    return new SignJWT({ role: principal.role, email: principal.email, name: principal.name })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(principal.userId)
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setIssuedAt()
      .setExpirationTime(`${options.ttlSeconds}s`)
      .sign(secret);
  }

  // Signature checks cost more than the rest of a small request; a token's claims cannot change.
  const verified = new Map<string, { principal: Principal; until: number }>();

  async function verify(token: string): Promise<Principal> {
    const principal = await verifyToken(token);
    // Every time, also for a remembered token: disabling an account ends its sessions.
    if (await options.isDisabled?.(principal.userId))
      throw new HttpError(401, 'account_disabled', 'this account is disabled');
    return principal;
  }

  async function verifyToken(token: string): Promise<Principal> {
    const known = verified.get(token);
    if (known && known.until > Date.now()) return known.principal;
    verified.delete(token);
    const principal = await verifySignature(token);
    // Outside the token check: a database error here is not a bad token.
    if (jwks && options.userIdOf)
      principal.principal.userId = await options.userIdOf(options.issuer, principal.principal.userId);
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
    verified.set(token, {
      principal: principal.principal,
      until: Math.min(principal.exp, Date.now() + VERIFIED_CACHE_MS),
    });
    return principal.principal;
  }

  async function verifySignature(token: string): Promise<{ principal: Principal; exp: number }> {
    try {
      const verifyOptions = {
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['exp', 'sub'],
      };
      const { payload } = jwks
        ? await jwtVerify(token, jwks, { ...verifyOptions, algorithms: JWKS_ALGS })
        : await jwtVerify(token, secret!, { ...verifyOptions, algorithms: HS_ALGS });
      const role = payload.role === 'admin' ? 'admin' : 'user';
      const principal: Principal = {
        userId: payload.sub!,
        role,
        email: payload.email as string | undefined,
        name: payload.name as string | undefined,
      };
      return { principal, exp: payload.exp! * 1000 };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(401, 'invalid_token', describeJwtError(err));
    }
  }

  /** Reads `Authorization: Bearer <jwt>`; sets req.principal or answers 401. */
  async function requireUser(req: Request, _res: Response, next: NextFunction) {
    const header = req.header('authorization');
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) return next(unauthorized('missing bearer token'));
    try {
      req.principal = await verify(match[1]!);
      next();
    } catch (err) {
      next(err);
    }
  }

  function requireAdmin(req: Request, _res: Response, next: NextFunction) {
    if (req.principal?.role !== 'admin') return next(new HttpError(403, 'forbidden', 'admin role required'));
    next();
  }

  return { sign, verify, requireUser, requireAdmin };
}

export type Auth = ReturnType<typeof createAuth>;

/**
 * The issuer's published keys (fetched, cached and refetched for an unknown `kid` by jose).
 * When the key set cannot be fetched the token is not shown to be bad: that is a 503, so a
 * client keeps its token through an outage of the issuer instead of being logged out.
 */
function issuerKeys(url: URL): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url);
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // The fetch failed, timed out, answered other than 200 or not a key set; a subclass of
      // JOSEError other than these is about the token (no key with its kid, its algorithm).
      const unreachable =
        !(err instanceof joseErrors.JOSEError) ||
        err.constructor === joseErrors.JOSEError ||
        err instanceof joseErrors.JWKSTimeout ||
        err instanceof joseErrors.JWKSInvalid;
      if (!unreachable) throw err;
      throw new HttpError(
        503,
        'jwks_unavailable',
        `the token issuer's key set could not be fetched: ${(err as Error).message}`,
      );
    }
  };
}

function describeJwtError(err: unknown): string {
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return "token signing key (kid) not in the issuer's key set";
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return "token names no single key of the issuer's key set";
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return `token claim invalid: ${err.claim} ${err.reason}`;
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'token malformed';
  if (err instanceof joseErrors.JOSENotSupported) return 'token algorithm not supported';
  return 'token invalid';
}

/** The principal of an authenticated request (routes behind requireUser). */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}
