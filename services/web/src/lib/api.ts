/** JSON over fetch with the session's bearer token; errors as `ApiError` with the server's code. */
import type { ErrorBody } from '../types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The endpoint is not there (its service is not deployed) or the server cannot be reached. */
export function isUnavailable(err: unknown): boolean {
  return (
    err instanceof ApiError &&
    (err.status === 404 || err.status === 501 || err.status === 502 || err.status === 503 || err.status === 0)
  );
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return 'The server cannot be reached.';
    const details = Array.isArray(err.details)
      ? (err.details as { path?: string; message?: string }[])
          .filter((d) => d && typeof d.message === 'string')
          .map((d) => (d.path ? `${d.path}: ${d.message}` : d.message))
      : [];
    return details.length > 1 ? `${err.message} (${details.join('; ')})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Api {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /** A download of a text response (exports) with the token; resolves to its Blob. */
  blob(path: string, query?: Query): Promise<Blob>;
}

export interface ApiOptions {
  baseUrl?: string;
  token: () => string | null;
  /** The token was refused (expired or revoked): the session ends. */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
}

export function createApi(options: ApiOptions): Api {
  const base = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function send(method: string, path: string, { query, body, headers, signal }: RequestOptions = {}) {
    const token = options.token();
    let response: Response;
    try {
      response = await doFetch(base + path + queryString(query), {
        method,
        signal,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw new ApiError(0, 'network_error', 'The server cannot be reached.');
    }
    if (!response.ok) {
      let error: ErrorBody['error'] | undefined;
      try {
        error = ((await response.json()) as ErrorBody).error;
      } catch {
        // not JSON (a proxy's page)
      }
      // `invalid_credentials` is about a password in the body (the current one, on a password
      // change), not the token: the session goes on.
      if (response.status === 401 && token && error?.code !== 'invalid_credentials')
        options.onUnauthorized?.();
      throw new ApiError(
        response.status,
        error?.code ?? 'http_error',
        error?.message ?? `${response.status} ${response.statusText}`,
        error?.details,
      );
    }
    return response;
  }

  return {
    async request<T>(method: string, path: string, opts?: RequestOptions): Promise<T> {
      const response = await send(method, path, opts);
      // A 202 may carry a body (replaying a topic's dead letters says how many): read it when there is one.
      if (response.status === 204 || response.headers.get('content-length') === '0') {
        return undefined as T;
      }
      const text = await response.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async blob(path: string, query?: Query): Promise<Blob> {
      const response = await send('GET', path, { query, headers: { accept: '*/*' } });
      return response.blob();
    },
  };
}
