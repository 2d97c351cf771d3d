import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTaskApiService } from './index.js';

/**
 * JWKS_URL: an external issuer signs users in. Its subjects are whatever it uses ("auth0|123",
 * an email); they become internal users on first use, and the password routes are off.
 */
const ISSUER = 'https://issuer.test';
let keys: { privateKey: CryptoKey; publicKey: CryptoKey };
let jwks: Server;
let rt: TestRuntime;

const tokenFor = (sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT(claims)
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setAudience('taskstream')
    .setIssuedAt()
    .setExpirationTime('5m')
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(keys.privateKey);

beforeAll(async () => {
  keys = await generateKeyPair('ES256');
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] });
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  rt = await startTestRuntime([createTaskApiService], {
    env: {
      JWT_SECRET: undefined,
      JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      JWT_ISSUER: ISSUER,
    },
  });
}, 60_000);
afterAll(async () => {
  await rt?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

describe('external identity provider (JWKS_URL)', () => {
  it('a subject that is not a uuid becomes one internal user, the same on every token', async () => {
    const first = await tokenFor('auth0|6512a3', { email: 'ext@example.com', name: 'Ext' });
    const created = await rt.request('POST', '/api/tasks', { token: first, body: { title: 'From outside' } });
    expect(created.status).toBe(201);
    const userId = created.body.user_id as string;
    expect(userId).toMatch(/^[0-9a-f-]{36}$/);

    // A later token of the same subject (another process would map it the same way: one table).
    const again = await tokenFor('auth0|6512a3');
    const listed = await rt.request('GET', '/api/tasks', { token: again });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((t: { id: string }) => t.id)).toEqual([created.body.id]);
    const me = await rt.request('GET', '/api/auth/me', { token: first });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ id: userId, email: 'ext@example.com', name: 'Ext', role: 'user' });
    const { rows } = await rt.pool.query(
      'SELECT issuer, subject, user_id FROM external_identities WHERE subject = $1',
      ['auth0|6512a3'],
    );
    expect(rows).toEqual([{ issuer: ISSUER, subject: 'auth0|6512a3', user_id: userId }]);

    // Another subject sees none of it; a subject that looks like the first one's id is another user.
    for (const sub of ['someone-else@example.com', userId]) {
      const other = await tokenFor(sub);
      const theirs = await rt.request('GET', '/api/tasks', { token: other });
      expect(theirs.status).toBe(200);
      expect(theirs.body.items).toEqual([]);
      expect((await rt.request('GET', `/api/tasks/${created.body.id}`, { token: other })).status).toBe(404);
    }
  });

  it('many first requests of one subject at once agree on its user', async () => {
    const token = await tokenFor('github:424242');
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rt.request('POST', '/api/tasks', { token, body: { title: `at once ${i}` } }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.body.user_id)).size).toBe(1);
  });

  test.each([
    ['/api/auth/login', { email: 'ext@example.com', password: 'whatever-it-is' }],
    ['/api/auth/register', { email: 'new@example.com', password: 'a long passphrase', name: 'N' }],
  ])('POST %s answers 403 naming the external provider', async (path, body) => {
    const res = await rt.request('POST', path, { body });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('external_identity_provider');
  });

  it('changing the password answers 403 too', async () => {
    const res = await rt.request('POST', '/api/auth/password', {
      token: await tokenFor('auth0|6512a3'),
      body: { current_password: 'x', new_password: 'a long passphrase' },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('external_identity_provider');
  });
});
