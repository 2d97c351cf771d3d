import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Auth, HttpError, type Logger, type Metrics } from '@taskstream/platform';
import { decodeJwt } from 'jose';
import { WebSocketServer } from 'ws';
import type { Hub } from './hub.js';
import {
  BEARER_PROTOCOL,
  CloseCodes,
  type LiveQuery,
  parseLiveQuery,
  QueryError,
  tokenFromProtocols,
} from './protocol.js';

export const WS_PATH = '/ws/tasks';

export interface UpgradeOptions {
  auth: Auth;
  hub: Hub;
  logger: Logger;
  metrics: Metrics;
  /** Origins whose pages may connect; undefined: any. */
  allowedOrigins?: readonly string[];
}

/**
 * Takes `/ws/tasks` upgrades: checks the page's origin, the query and the token, then hands the
 * socket to the hub until the token's `exp`. A refusal completes the handshake and closes with
 * a code and a reason before any data, because a browser cannot read the status of a failed
 * handshake (ADR 0007).
 */
export function createUpgradeListener(options: UpgradeOptions) {
  const { auth, hub, logger, metrics } = options;
  const allowed = options.allowedOrigins ? new Set(options.allowedOrigins) : undefined;

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    // Clients send nothing but control frames.
    maxPayload: 4096,
    // Accept the `bearer` subprotocol; the token next to it is never echoed back.
    handleProtocols: (protocols) => (protocols.has(BEARER_PROTOCOL) ? BEARER_PROTOCOL : false),
  });

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) {
    socket.on('error', () => undefined);
    let query: LiveQuery | undefined;
    let refusal: { code: number; reason: string } | undefined;
    let userId: string | undefined;
    let expiresAt: number | undefined;
    // A browser always sends its page's origin; anything else could send any Origin it liked,
    // so a request without one is not refused here (its token still is checked).
    const origin = req.headers.origin;
    if (allowed && origin !== undefined && !allowed.has(origin)) {
      refusal = { code: CloseCodes.originNotAllowed, reason: `origin not allowed: ${origin}` };
    } else {
      try {
        query = parseLiveQuery(url.searchParams);
        const token = tokenFromProtocols(req.headers['sec-websocket-protocol']);
        if (!token) refusal = { code: CloseCodes.unauthorized, reason: 'missing token' };
        else {
          userId = (await auth.verify(token)).userId;
          // Verified just now, so its `exp` (a required claim) is the issuer's.
          expiresAt = (decodeJwt(token).exp ?? 0) * 1000;
        }
      } catch (err) {
        // Auth answers 4xx for a bad token; a 5xx (the issuer's key set unreachable) says nothing
        // against it, so the client keeps it and retries.
        refusal =
          err instanceof QueryError
            ? { code: CloseCodes.badRequest, reason: err.message }
            : err instanceof HttpError && err.status >= 500
              ? { code: CloseCodes.tryAgainLater, reason: err.message }
              : {
                  code: CloseCodes.unauthorized,
                  reason: err instanceof Error ? err.message : 'invalid token',
                };
      }
    }
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (refusal || !userId || !query) {
        const { code, reason } = refusal ?? { code: CloseCodes.unauthorized, reason: 'invalid token' };
        metrics
          .counter('sync_disconnects_total', 'WebSocket connections ended, by reason', ['reason'])
          .inc({ reason: String(code) });
        // A close reason has at most 123 bytes.
        ws.close(code, Buffer.from(reason).subarray(0, 120).toString());
        return;
      }
      hub.attach(ws, userId, query, expiresAt);
    });
  }

  return {
    listener(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== WS_PATH) return; // another service's upgrade: leave the socket alone
      void onUpgrade(req, socket, head, url).catch((err) => {
        logger.error({ err }, 'websocket upgrade failed');
        socket.destroy();
      });
    },
    close: () => wss.close(),
  };
}
