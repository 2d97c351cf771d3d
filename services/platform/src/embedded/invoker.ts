import http from 'node:http';
import type { InvokeRequest, InvokeResponse, Invoker } from '../ports.js';

/**
 * The embedded host serves every service's routes on one port, so "calling another app" is a
 * loopback HTTP call of the same route the Dapr sidecar would call, with the same app token.
 * Over node:http with kept-alive connections: fetch costs several times the CPU per call, and
 * the caller shares the process with the route it calls.
 */
export function createEmbeddedInvoker(options: { baseUrl: () => string; appToken?: string }): Invoker {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return {
    invoke<T>(request: InvokeRequest): Promise<InvokeResponse<T>> {
      const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
      const headers: Record<string, string | number> = { ...request.headers };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      if (options.appToken) headers['dapr-api-token'] = options.appToken;
      return new Promise((resolve, reject) => {
        const call = http.request(
          new URL(request.path, options.baseUrl()),
          { method: request.method, headers, agent },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('error', reject);
            response.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown = text;
              try {
                body = text ? JSON.parse(text) : undefined;
              } catch {
                // not JSON: hand back the text
              }
              resolve({ status: response.statusCode ?? 0, body: body as T });
            });
          },
        );
        call.on('error', reject);
        call.end(payload);
      });
    },
  };
}
