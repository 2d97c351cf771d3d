import type { Config } from '../config.js';

export type SidecarConfig = Pick<Config, 'DAPR_HOST' | 'DAPR_HTTP_PORT' | 'DAPR_API_TOKEN'>;

export interface SidecarResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else the text; undefined when empty. */
  body: unknown;
}

/** A non-2xx answer of the sidecar, with Dapr's error body (`errorCode`, `message`) kept. */
export class SidecarError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    const detail =
      typeof body === 'object' && body ? (body as { message?: string }).message : String(body ?? '');
    super(`${what}: sidecar answered ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'SidecarError';
  }

  get errorCode(): string | undefined {
    return typeof this.body === 'object' && this.body
      ? (this.body as { errorCode?: string }).errorCode
      : undefined;
  }
}

export interface SidecarClient {
  readonly baseUrl: string;
  /** Calls the sidecar's HTTP API (`/v1.0/...`) with the API token; JSON bodies in and out. */
  request(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<SidecarResponse>;
}

/** How long the first call waits for the sidecar to come up (the SDK's DaprClient waits 60 s too). */
const SIDECAR_WAIT_MS = 60_000;

export function createSidecarClient(config: SidecarConfig, options: { waitMs?: number } = {}): SidecarClient {
  const baseUrl = `http://${config.DAPR_HOST}:${config.DAPR_HTTP_PORT}`;
  let ready: Promise<void> | undefined;

  /**
   * The app starts before its sidecar (daprd waits for the app's port), so a service that calls
   * the sidecar while it starts (schedules a job, reads state) waits for daprd's outbound health
   * instead of failing with ECONNREFUSED. Once up, calls go straight through.
   */
  function sidecarReady(): Promise<void> {
    ready ??= (async () => {
      const deadline = Date.now() + (options.waitMs ?? SIDECAR_WAIT_MS);
      for (;;) {
        const status = await fetch(`${baseUrl}/v1.0/healthz/outbound`).then(
          (r) => r.status,
          () => 0,
        );
        if (status >= 200 && status < 300) return;
        if (Date.now() > deadline)
          throw new Error(
            `the Dapr sidecar at ${baseUrl} is not up (outbound health: ${status || 'no answer'})`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    })().catch((err) => {
      ready = undefined; // the next call waits again
      throw err;
    });
    return ready;
  }

  return {
    baseUrl,
    async request(path, init = {}) {
      await sidecarReady();
      const headers: Record<string, string> = { ...init.headers };
      if (config.DAPR_API_TOKEN) headers['dapr-api-token'] = config.DAPR_API_TOKEN;
      if (init.body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`${baseUrl}${path}`, {
        method: init.method ?? 'GET',
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      return { status: response.status, headers: response.headers, body: parseBody(await response.text()) };
    },
  };
}

export function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: hand back the text
  }
}
