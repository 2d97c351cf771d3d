import type { NextFunction, Request, Response } from 'express';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { createAuth } from './auth.js';
import { HttpError } from './errors.js';

const SECRET = 'unit-test-secret-unit-test-secret-0123456789';
const options = { secret: SECRET, issuer: 'taskstream', audience: 'taskstream', ttlSeconds: 3600 };
const auth = createAuth(options);
const key = new TextEncoder().encode(SECRET);

/** A token with the claims a real one has, changed by `edit` before signing. */
function claims(edit: (jwt: SignJWT) => SignJWT = (j) => j) {
  return edit(
    new SignJWT({ role: 'user', email: 'ada@example.com' })
      .setSubject('user-1')
      .setIssuer('taskstream')
      .setAudience('taskstream')
      .setIssuedAt(),
  );
}

async function rejection(token: string): Promise<HttpError> {
  try {
    await auth.verify(token);
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('the token was accepted');
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

describe('auth: JWT verification', () => {
  test('a token it signed is accepted and gives the principal', async () => {
    const token = await auth.sign({ userId: 'user-1', role: 'admin', email: 'ada@example.com', name: 'Ada' });
    expect(await auth.verify(token)).toEqual({
      userId: 'user-1',
      role: 'admin',
      email: 'ada@example.com',
      name: 'Ada',
    });
  });

  test('a token accepted once is refused once it has expired (remembered tokens keep their exp)', async () => {
    const token = await claims((j) => j.setExpirationTime(now() + 2))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key);
    expect(await auth.verify(token)).toMatchObject({ userId: 'user-1' });
    expect(await auth.verify(token)).toMatchObject({ userId: 'user-1' });
    await new Promise((r) => setTimeout(r, 2100));
    expect((await rejection(token)).message).toBe('token expired');
  });

  test('a valid HS256 token from elsewhere with the same secret is accepted; an unknown role is a user', async () => {
    const token = await claims((j) => j.setExpirationTime('5m'))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key);
    expect(await auth.verify(token)).toMatchObject({ userId: 'user-1', role: 'user' });
    const odd = await new SignJWT({ role: 'root' })
      .setSubject('user-2')
      .setIssuer('taskstream')
      .setAudience('taskstream')
      .setExpirationTime('5m')
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key);
    expect((await auth.verify(odd)).role).toBe('user');
  });

  test.each<[string, () => Promise<string>, RegExp]>([
    [
      'expired',
      () =>
        claims((j) => j.setExpirationTime(now() - 120))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key),
      /expired/,
    ],
    ['without exp', () => claims().setProtectedHeader({ alg: 'HS256' }).sign(key), /exp/],
    [
      'alg none',
      async () =>
        new UnsecuredJWT({ role: 'admin' })
          .setSubject('user-1')
          .setIssuer('taskstream')
          .setAudience('taskstream')
          .setExpirationTime('5m')
          .encode(),
      /algorithm/,
    ],
    [
      'unsigned (HS256 header, no signature)',
      async () => {
        const signed = await claims((j) => j.setExpirationTime('5m'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key);
        return `${signed.split('.').slice(0, 2).join('.')}.`;
      },
      /signature|malformed/,
    ],
    [
      'with only two parts',
      async () => `${b64({ alg: 'HS256' })}.${b64({ sub: 'user-1', exp: now() + 60 })}`,
      /malformed/,
    ],
    [
      'signed with another algorithm (HS512, same secret)',
      () =>
        claims((j) => j.setExpirationTime('5m'))
          .setProtectedHeader({ alg: 'HS512' })
          .sign(key),
      /algorithm/,
    ],
    [
      'signed with an RSA key (RS256)',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return claims((j) => j.setExpirationTime('5m'))
          .setProtectedHeader({ alg: 'RS256' })
          .sign(privateKey);
      },
      /algorithm/,
    ],
    [
      'signed with the wrong secret',
      () =>
        claims((j) => j.setExpirationTime('5m'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(new TextEncoder().encode('another-secret-another-secret-0123456789')),
      /signature/,
    ],
    [
      'with a changed payload',
      async () => {
        const [header, , signature] = (
          await claims((j) => j.setExpirationTime('5m'))
            .setProtectedHeader({ alg: 'HS256' })
            .sign(key)
        ).split('.');
        return `${header}.${b64({ sub: 'user-1', role: 'admin', iss: 'taskstream', aud: 'taskstream', exp: now() + 60 })}.${signature}`;
      },
      /signature/,
    ],
    [
      'for another audience',
      () =>
        claims((j) => j.setExpirationTime('5m').setAudience('someone-else'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key),
      /aud/,
    ],
    [
      'from another issuer',
      () =>
        claims((j) => j.setExpirationTime('5m').setIssuer('evil'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key),
      /iss/,
    ],
    [
      'without a subject',
      () =>
        new SignJWT({ role: 'user' })
          .setIssuer('taskstream')
          .setAudience('taskstream')
          .setExpirationTime('5m')
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key),
      /sub/,
    ],
    [
      'not valid yet (nbf in the future)',
      () =>
        claims((j) => j.setExpirationTime('1h').setNotBefore('30m'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(key),
      /nbf/,
    ],
    ['that is not a JWT at all', async () => 'not-a-token', /malformed/],
  ])('a token %s is a 401 with the reason', async (_what, make, reason) => {
    const error = await rejection(await make());
    expect(error.status).toBe(401);
    expect(error.code).toBe('invalid_token');
    expect(error.message).toMatch(reason);
  });
});

describe('auth: middleware', () => {
  function call(
    middleware: (req: Request, res: Response, next: NextFunction) => unknown,
    req: Partial<Request>,
  ) {
    return new Promise<{ error?: unknown; req: Partial<Request> }>((resolve) => {
      void middleware(req as Request, {} as Response, (error?: unknown) => resolve({ error, req }));
    });
  }
  const withHeader = (value?: string): Partial<Request> => ({
    header: ((name: string) =>
      name.toLowerCase() === 'authorization' ? value : undefined) as Request['header'],
  });

  test('requireUser sets the principal for a valid bearer token', async () => {
    const token = await auth.sign({ userId: 'user-9', role: 'user' });
    const { error, req } = await call(auth.requireUser, withHeader(`Bearer ${token}`));
    expect(error).toBeUndefined();
    expect(req.principal).toMatchObject({ userId: 'user-9', role: 'user' });
  });

  test.each([undefined, '', 'Basic dXNlcjpwdw==', 'Bearer', 'Bearer a b'])(
    'requireUser answers 401 for header %j',
    async (value) => {
      const { error } = await call(auth.requireUser, withHeader(value));
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(401);
    },
  );

  test('requireUser answers 401 invalid_token for a bad token', async () => {
    const { error } = await call(auth.requireUser, withHeader('Bearer not.a.token'));
    expect(error).toMatchObject({ status: 401, code: 'invalid_token' });
  });

  test('requireAdmin lets admins through and answers others 403', async () => {
    expect(
      (await call(auth.requireAdmin, { principal: { userId: 'a', role: 'admin' } })).error,
    ).toBeUndefined();
    expect((await call(auth.requireAdmin, { principal: { userId: 'u', role: 'user' } })).error).toMatchObject(
      { status: 403 },
    );
  });

  test('auth needs a secret or a JWKS URL; a JWKS deployment cannot sign', async () => {
    expect(() => createAuth({ issuer: 'i', audience: 'a', ttlSeconds: 60 })).toThrow(/secret or a JWKS URL/);
    const external = createAuth({
      jwksUrl: 'https://issuer.example/jwks.json',
      issuer: 'i',
      audience: 'a',
      ttlSeconds: 60,
    });
    await expect(external.sign({ userId: 'u', role: 'user' })).rejects.toThrow(/cannot sign/);
  });
});
