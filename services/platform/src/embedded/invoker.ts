import type { InvokeRequest, InvokeResponse, Invoker } from '../ports.js';

/**
 * The embedded host serves every service's routes on one port, so "calling another app" is a
 * loopback HTTP call of the same route the Dapr sidecar would call, with the same app token.
 */
export function createEmbeddedInvoker(options: { baseUrl: () => string; appToken?: string }): Invoker {
  return {
    async invoke<T>(request: InvokeRequest): Promise<InvokeResponse<T>> {
      const headers: Record<string, string> = { ...request.headers };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      if (options.appToken) headers['dapr-api-token'] = options.appToken;
      const response = await fetch(new URL(request.path, options.baseUrl()), {
        method: request.method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: hand back the text
      }
      return { status: response.status, body: body as T };
    },
  };
}
