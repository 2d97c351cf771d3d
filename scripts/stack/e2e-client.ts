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
    options: { token?: string; body?: unknown } = {},
  ): Promise<Json> {
    const response = await fetch(`${urls[app]}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
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
