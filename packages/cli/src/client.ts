/**
 * The deployment's HTTP API as the CLI uses it: JSON in and out, the token as a bearer header,
 * and every failure as one CliError whose message fits one line (the API's own reason when it
 * gave one). The token never appears in a message.
 */

/** A failure to report in one line; `exitCode` 2 is bad usage, 1 anything else. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  token?: string;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  /** No token needed (login). */
  anonymous?: boolean;
}

export function createClient(options: ClientOptions) {
  let base: URL;
  try {
    base = new URL(options.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(`--url / TASKSTREAM_URL is not an http(s) URL: ${JSON.stringify(options.url)}`, 2);
  }

  function urlOf(path: string, query: RequestOptions['query'] = {}): URL {
    const url = new URL(path, base);
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return url;
  }

  async function send(method: string, path: string, request: RequestOptions = {}): Promise<Response> {
    if (!request.anonymous && !options.token)
      throw new CliError(
        'no token: set TASKSTREAM_TOKEN or pass --token (`taskstream login --email <you>` prints one)',
        2,
      );
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!request.anonymous) headers.authorization = `Bearer ${options.token}`;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const url = urlOf(path, request.query);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach ${base.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    if (!response.ok) throw await failure(response, method, url);
    return response;
  }

  return {
    url: base,
    /** The parsed JSON answer; undefined for an empty one (204, 202 without a body). */
    async json<T = unknown>(method: string, path: string, request?: RequestOptions): Promise<T> {
      const response = await send(method, path, request);
      const text = await response.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    /** The answer as it streams (an export). */
    stream: send,
  };
}

export type Client = ReturnType<typeof createClient>;

/** The API's `{ error: { code, message } }`, or the status when the answer is something else. */
async function failure(response: Response, method: string, url: URL): Promise<CliError> {
  let detail = '';
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body?.error?.message) detail = body.error.message;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const hint =
    response.status === 401
      ? ' (the token is missing, expired or of a disabled account: `taskstream login` gives a new one)'
      : response.status === 403 && !detail.includes('disabled')
        ? ' (an admin token is needed)'
        : '';
  const what = detail || response.statusText || 'request failed';
  return new CliError(`${method} ${url.pathname}: ${what} [HTTP ${response.status}]${hint}`);
}
