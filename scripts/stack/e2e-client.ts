import { randomUUID } from 'node:crypto';
/**
 * What the e2e tests of the local stack and of the local Kubernetes node share: REST calls to an
 * app by its id, and polling until something holds.
 */

export interface Json {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  body: any;
}

/** `call(app, method, path, {token, body})` against `urls[app]`, the body parsed as JSON. */
export function appCaller(urls: Record<string, string>) {
  return async function call(
    app: string,
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Json> {
    const response = await fetch(`${urls[app]}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** Polls until `check` returns a value; a generous bound only against hangs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A new account through task-api as a client makes one: register (202 whether or not the email
 * is taken), then log in for the token.
 */
export async function signUpThrough(
  call: ReturnType<typeof appCaller>,
  name: string,
): Promise<{ token: string; userId: string; email: string; password: string }> {
  const email = `${name.toLowerCase().replace(/\W+/g, '-')}-${randomUUID()}@example.com`;
  const password = `${name} end to end ${randomUUID().slice(0, 8)}`;
  const registered = await call('task-api', 'POST', '/api/auth/register', {
    body: { email, password, name },
  });
  if (registered.status !== 202) throw new Error(`register answered ${registered.status}`);
  const login = await call('task-api', 'POST', '/api/auth/login', { body: { email, password } });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return { token: login.body.token, userId: login.body.user.id, email, password };
}
