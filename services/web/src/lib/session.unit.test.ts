import { type ApiError, createApi, errorMessage, isUnavailable, queryString } from './api.js';
import { clearSession, loadSession, saveSession, sessionOf, TOKEN_KEY } from './session.js';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (claims: object) => `${b64({ alg: 'HS256' })}.${b64(claims)}.sig`;

class MemoryStorage {
  items = new Map<string, string>();
  getItem = (k: string) => this.items.get(k) ?? null;
  setItem = (k: string, v: string) => void this.items.set(k, v);
  removeItem = (k: string) => void this.items.delete(k);
}

describe('the session', () => {
  it('reads who is signed in from the token, and drops an expired one', () => {
    const storage = new MemoryStorage();
    const token = jwt({
      sub: 'u1',
      role: 'admin',
      email: 'a@example.com',
      name: 'Ä',
      exp: Date.now() / 1000 + 60,
    });
    expect(saveSession(token, storage)).toMatchObject({ userId: 'u1', role: 'admin', name: 'Ä' });
    expect(loadSession(storage)?.token).toBe(token);
    storage.setItem(TOKEN_KEY, jwt({ sub: 'u1', exp: Date.now() / 1000 - 1 }));
    expect(loadSession(storage)).toBeNull();
    expect(storage.getItem(TOKEN_KEY)).toBeNull();
    storage.setItem(TOKEN_KEY, 'garbage');
    expect(loadSession(storage)).toBeNull();
    clearSession(storage);
    expect(sessionOf(jwt({ role: 'admin' }))).toBeNull();
    expect(sessionOf(jwt({ sub: 'u2', role: 'root' }))?.role).toBe('user');
  });
});

describe('the API client', () => {
  it('sends the token and JSON, and turns error bodies into ApiError', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    let unauthorized = 0;
    const api = createApi({
      token: () => 'tok',
      onUnauthorized: () => unauthorized++,
      fetch: async (url, init) => {
        calls.push({ url: String(url), init: init! });
        if (String(url).startsWith('/api/missing')) {
          return new Response(JSON.stringify({ error: { code: 'not_found', message: 'no route' } }), {
            status: 404,
          });
        }
        if (String(url).startsWith('/api/expired'))
          return new Response('{"error":{"code":"invalid_token","message":"token expired"}}', {
            status: 401,
          });
        return new Response(JSON.stringify({ ok: true }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    expect(
      await api.request('POST', '/api/x', {
        body: { a: 1 },
        query: { q: 'a b', empty: '', none: undefined },
      }),
    ).toEqual({ ok: true });
    expect(calls[0]!.url).toBe('/api/x?q=a+b');
    expect(calls[0]!.init.headers).toMatchObject({
      authorization: 'Bearer tok',
      'content-type': 'application/json',
    });
    const missing = await api.request('GET', '/api/missing').catch((e) => e);
    expect(missing).toMatchObject({ status: 404, code: 'not_found', message: 'no route' });
    expect(isUnavailable(missing)).toBe(true);
    await expect(api.request('GET', '/api/expired')).rejects.toMatchObject({ status: 401 });
    expect(unauthorized).toBe(1);
  });

  it('reports an unreachable server as unavailable', async () => {
    const api = createApi({
      token: () => null,
      fetch: async () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const err = await api.request<never>('GET', '/api/x').catch((e: ApiError) => e);
    expect(err.status).toBe(0);
    expect(isUnavailable(err)).toBe(true);
    expect(errorMessage(err)).toBe('The server cannot be reached.');
  });

  it('lists each field of a validation error', async () => {
    const api = createApi({
      token: () => null,
      fetch: async () =>
        new Response(
          JSON.stringify({
            error: {
              code: 'validation_failed',
              message: 'invalid body: title: too short',
              details: [
                { path: 'title', message: 'too short' },
                { path: 'tags.0', message: 'too long' },
              ],
            },
          }),
          { status: 400 },
        ),
    });
    const err = await api.request('POST', '/api/tasks').catch((e) => e);
    expect(errorMessage(err)).toBe('invalid body: title: too short (title: too short; tags.0: too long)');
    expect(queryString({})).toBe('');
  });
});
