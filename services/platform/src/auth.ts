import type { NextFunction, Request, Response } from 'express';
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

export interface AuthOptions {
  /** HS256 secret (embedded and simple deployments). */
  secret?: string;
  /** Verify an external issuer's tokens instead (RS256/ES256/EdDSA). */
  jwksUrl?: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

const HS_ALGS = ['HS256'];
const JWKS_ALGS = ['RS256', 'ES256', 'EdDSA'];

/** Sign and verify JWTs with the algorithm pinned and `exp` required; `alg: none` never passes. */
export function createAuth(options: AuthOptions) {
  if (!options.secret && !options.jwksUrl) throw new Error('auth needs a JWT secret or a JWKS URL');
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : undefined;

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

  async function verify(token: string): Promise<Principal> {
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
      return {
        userId: payload.sub!,
        role,
        email: payload.email as string | undefined,
        name: payload.name as string | undefined,
      };
    } catch (err) {
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

function describeJwtError(err: unknown): string {
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
