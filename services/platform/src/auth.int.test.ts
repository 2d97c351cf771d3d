import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { createAuth } from './auth.js';
import { HttpError } from './errors.js';

/**
 * JWKS_URL deployments verify an external issuer's tokens against the keys it publishes: here a
 * real key set served over HTTP on loopback, fetched by the same code as in production.
 */
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'taskstream';

interface Signer {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function signer(kid: string, alg: Signer['alg']): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey };
}

/** A token as the issuer makes it; `edit` changes the claims before signing. */
function token(by: Signer, edit: (jwt: SignJWT) => SignJWT = (j) => j.setExpirationTime('5m')) {
  return edit(
    new SignJWT({ email: 'ada@example.com' })
      .setSubject('user-1')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(),
  )
    .setProtectedHeader({ alg: by.alg, kid: by.kid, typ: 'JWT' })
    .sign(by.privateKey);
}

let server: Server;
let jwksUrl: string;
/** What the key set endpoint answers; a test may make it fail. */
let keySet: { status: number; body: unknown };
let rs: Signer;
let es: Signer;

beforeAll(async () => {
  [rs, es] = await Promise.all([signer('rs-1', 'RS256'), signer('es-1', 'ES256')]);
  const published: JWK[] = await Promise.all(
    [rs, es].map(async (s) => ({ ...(await exportJWK(s.publicKey)), kid: s.kid, alg: s.alg, use: 'sig' })),
  );
  keySet = { status: 200, body: { keys: published } };
  server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(keySet.status, { 'content-type': 'application/json' }).end(JSON.stringify(keySet.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const external = () => createAuth({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 3600 });

async function refusal(auth: ReturnType<typeof createAuth>, jwt: string): Promise<HttpError> {
  try {
    await auth.verify(jwt);
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('the token was accepted');
}

describe('auth: tokens of an external issuer (JWKS_URL)', () => {
  test.each(['RS256', 'ES256'])(
    'an %s token signed by a published key, with the right iss, aud and exp, is accepted',
    async (alg) => {
      const principal = await external().verify(await token(alg === 'RS256' ? rs : es));
      expect(principal).toEqual({ userId: 'user-1', role: 'user', email: 'ada@example.com' });
    },
  );

  test.each<[string, () => Promise<string>, RegExp]>([
    [
      'with a kid the key set does not have',
      async () => token(await signer('rs-9', 'RS256')),
      /kid\) not in the issuer's key set/,
    ],
    [
      'signed by another key under a published kid',
      async () => token(await signer('rs-1', 'RS256')),
      /signature invalid/,
    ],
    [
      'signed HS256 with the public key as the secret',
      async () =>
        new SignJWT({})
          .setSubject('user-1')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .setProtectedHeader({ alg: 'HS256', kid: rs.kid })
          .sign(new TextEncoder().encode(await exportSPKI(rs.publicKey))),
      /algorithm not allowed/,
    ],
    [
      'with alg none',
      async () =>
        new UnsecuredJWT({})
          .setSubject('user-1')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .encode(),
      /algorithm not allowed/,
    ],
    ['without exp', () => token(rs, (j) => j), /exp missing/],
    [
      'that has expired',
      () => token(rs, (j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 120)),
      /expired/,
    ],
    [
      'from another issuer',
      () => token(rs, (j) => j.setExpirationTime('5m').setIssuer('https://evil.test')),
      /iss/,
    ],
    ['for another audience', () => token(es, (j) => j.setExpirationTime('5m').setAudience('other')), /aud/],
  ])('a token %s is refused: 401 with the reason', async (_what, make, reason) => {
    const error = await refusal(external(), await make());
    expect(error).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(error.message).toMatch(reason);
  });

  test('a key set that cannot be fetched is a 503, not a bad token', async () => {
    const jwt = await token(rs);
    keySet = { ...keySet, status: 500 };
    try {
      const error = await refusal(external(), jwt);
      expect(error).toMatchObject({ status: 503, code: 'jwks_unavailable' });
    } finally {
      keySet = { ...keySet, status: 200 };
    }
    const nowhere = createAuth({
      jwksUrl: 'http://127.0.0.1:1/.well-known/jwks.json', // nothing listens there
      issuer: ISSUER,
      audience: AUDIENCE,
      ttlSeconds: 60,
    });
    expect(await refusal(nowhere, jwt)).toMatchObject({ status: 503, code: 'jwks_unavailable' });
    expect(await external().verify(jwt)).toMatchObject({ userId: 'user-1' });
  });
});
