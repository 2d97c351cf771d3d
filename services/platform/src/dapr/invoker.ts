import type { InvokeRequest, InvokeResponse, Invoker } from '../ports.js';
import type { SidecarClient } from './sidecar-client.js';

/**
 * Service invocation through the sidecar: `/v1.0/invoke/<appId>/method/<path>`. The callee's
 * status and body come back as they are (a 404 or 500 of the callee is an answer, not a throw);
 * only a failure to reach the sidecar throws.
 */
export function createDaprInvoker(sidecar: SidecarClient): Invoker {
  return {
    async invoke<T>(request: InvokeRequest): Promise<InvokeResponse<T>> {
      const path = request.path.replace(/^\/+/, '');
      const response = await sidecar.request(
        `/v1.0/invoke/${encodeURIComponent(request.appId)}/method/${path}`,
        {
          method: request.method,
          body: request.body,
          headers: request.headers,
        },
      );
      return { status: response.status, body: response.body as T };
    },
  };
}
