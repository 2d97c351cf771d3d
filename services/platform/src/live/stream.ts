import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Request, type Response, Router } from 'express';
import { decodeJwt } from 'jose';
import { WebSocketServer } from 'ws';
import type { Auth, Principal } from '../auth.js';
import type { Pool } from '../db.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createHub, type HubStats, type LiveStreamMetrics } from './hub.js';
import {
  BEARER_PROTOCOL,
  CloseCodes,
  parsePosition,
  QueryError,
  refuseTokenInUrl,
  tokenFromProtocols,
} from './protocol.js';
import type { ReadHistory } from './replay.js';
import { issueTicket, redeemTicket, STREAM_TICKET_TTL_MS } from './tickets.js';
import { sseTransport, webSocketTransport } from './transport.js';

/** Who may follow which stream, and what they see of it. */
export interface LiveStreamRules<E, F> {
  /** The connection's filter from its URL (`since`, `ticket` and `token` are taken before); QueryError → 4400/400. */
  parseFilter(params: URLSearchParams): F;
  /** Whether an event passes a connection's filter (events that fail still advance its position). */
  matches(event: E, filter: F): boolean;
  /**
   * The subscriber key (the history's partition) a principal may follow with this filter; an
   * HttpError refuses (a 404 for someone else's wallet, say), as REST would.
   */
  authorize(principal: Principal, filter: F): string | Promise<string>;
}

export interface LiveStreamOptions<E, F> extends LiveStreamRules<E, F> {
  /** A name for logs and the connection-info endpoint (`tasks`, `transactions`). */
  name: string;
  /** `WS` upgrades taken here (`/ws/tasks`). */
  wsPath: string;
  /** `GET` here streams Server-Sent Events; `POST <ssePath>/ticket` issues a ticket for it. */
  ssePath: string;
  read: ReadHistory<E>;
  pool: Pool;
  auth: Auth;
  logger: Logger;
  instruments: LiveStreamMetrics;
  replayPageSize?: number;
  maxBufferedBytes: number;
  heartbeatMs: number;
  slowCloseGraceMs: number;
  maxConnectionsPerUser: number;
  /** Origins whose pages may connect; undefined: any. */
  allowedOrigins?: readonly string[];
}

export interface LiveStreamStats extends HubStats {
  stream: string;
}

type Refusal = { code: number; reason: string; status: number };

/** A refusal as a close code (WebSocket) and a status (SSE): what the client can do about it. */
function refusalOf(err: unknown): Refusal {
  if (err instanceof QueryError) return { code: CloseCodes.badRequest, reason: err.message, status: 400 };
  // Auth answers 4xx for a bad token; a 5xx (the issuer's key set unreachable) says nothing
  // against it, so the client keeps it and retries.
  if (err instanceof HttpError) {
    if (err.status >= 500) return { code: CloseCodes.tryAgainLater, reason: err.message, status: 503 };
    if (err.status === 401) return { code: CloseCodes.unauthorized, reason: err.message, status: 401 };
    return { code: 4000 + err.status, reason: err.message, status: err.status };
  }
  return {
    code: CloseCodes.unauthorized,
    reason: err instanceof Error ? err.message : 'invalid token',
    status: 401,
  };
}

/**
 * One live stream over WebSocket and Server-Sent Events: the same hub, the same delivery rules
 * (per-subscriber sequences, replay without gap or duplicate, resync beyond the window, the
 * buffer bound, the heartbeat, the end at the token's `exp`), two ways in. A service gives it
 * where its history lives, how a URL becomes a filter and who may follow what; it publishes
 * each event once stored under its subscriber's sequence (ADR 0019).
 */
export function createLiveStream<E, F>(options: LiveStreamOptions<E, F>) {
  const { auth, pool, logger, instruments, name, wsPath, ssePath } = options;
  const log = logger.child({ stream: name });
  const allowed = options.allowedOrigins ? new Set(options.allowedOrigins) : undefined;
  const hub = createHub<E>({
    read: options.read,
    logger: log,
    instruments,
    replayPageSize: options.replayPageSize ?? 200,
    maxBufferedBytes: options.maxBufferedBytes,
    heartbeatMs: options.heartbeatMs,
    slowCloseGraceMs: options.slowCloseGraceMs,
    maxConnectionsPerUser: options.maxConnectionsPerUser,
  });
  const refused = (code: number) => instruments.disconnects.inc({ reason: String(code) });

  /**
   * Why a page's origin may not connect, if it may not. A browser always sends its page's origin;
   * anything else could send any Origin it liked, so a request without one is not refused here
   * (its token still is checked).
   */
  const originRefusal = (origin: string | undefined) =>
    allowed && origin !== undefined && !allowed.has(origin) ? `origin not allowed: ${origin}` : undefined;

  async function verifyToken(token: string): Promise<{ principal: Principal; expiresAt: number }> {
    const principal = await auth.verify(token);
    // Verified just now, so its `exp` (a required claim) is the issuer's.
    return { principal, expiresAt: (decodeJwt(token).exp ?? 0) * 1000 };
  }

  // --- WebSocket ---------------------------------------------------------------------------
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    // Clients send nothing but control frames.
    maxPayload: 4096,
    // Accept the `bearer` subprotocol; the token next to it is never echoed back.
    handleProtocols: (protocols) => (protocols.has(BEARER_PROTOCOL) ? BEARER_PROTOCOL : false),
  });

  /**
   * Checks the page's origin, the query and the token, then hands the socket to the hub until
   * the token's `exp`. A refusal completes the handshake and closes with a code and a reason
   * before any data, because a browser cannot read the status of a failed handshake (ADR 0007).
   */
  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) {
    socket.on('error', () => undefined);
    let refusal: Refusal | undefined;
    let accepted: { key: string; userId: string; filter: F; since?: number; expiresAt: number } | undefined;
    const badOrigin = originRefusal(req.headers.origin);
    if (badOrigin) refusal = { code: CloseCodes.originNotAllowed, reason: badOrigin, status: 403 };
    else
      try {
        refuseTokenInUrl(url.searchParams, 'send it as Sec-WebSocket-Protocol: bearer, <jwt>');
        const since = parsePosition(url.searchParams.get('since'));
        const filter = options.parseFilter(url.searchParams);
        const token = tokenFromProtocols(req.headers['sec-websocket-protocol']);
        if (!token) throw new HttpError(401, 'unauthorized', 'missing token');
        const { principal, expiresAt } = await verifyToken(token);
        const key = await options.authorize(principal, filter);
        accepted = { key, userId: principal.userId, filter, since, expiresAt };
      } catch (err) {
        refusal = refusalOf(err);
      }
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = webSocketTransport(ws);
      if (refusal || !accepted) {
        const { code, reason } = refusal ?? { code: CloseCodes.unauthorized, reason: 'invalid token' };
        refused(code);
        transport.close(code, reason);
        return;
      }
      const { filter } = accepted;
      hub.attach({ ...accepted, transport, matches: (event) => options.matches(event, filter) });
    });
  }

  function upgradeListener(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== wsPath) return; // another stream's upgrade: leave the socket alone
    void onUpgrade(req, socket, head, url).catch((err) => {
      log.error({ err }, 'websocket upgrade failed');
      socket.destroy();
    });
  }

  // --- Server-Sent Events ------------------------------------------------------------------
  /**
   * `Authorization: Bearer <jwt>` (any client that can set headers) or `?ticket=` (a browser's
   * EventSource; see tickets.ts). A token in the URL is refused like on the WebSocket side.
   */
  async function sseCaller(req: Request, params: URLSearchParams) {
    const header = req.header('authorization');
    const bearer = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    if (bearer) return verifyToken(bearer);
    const ticket = params.get('ticket');
    if (!ticket) throw new HttpError(401, 'unauthorized', 'missing bearer token or stream ticket');
    const holder = await redeemTicket(pool, ssePath, ticket);
    if (!holder) throw new HttpError(401, 'invalid_ticket', 'stream ticket unknown, used or expired');
    if (holder.tokenExpiresAt <= Date.now()) throw new HttpError(401, 'invalid_token', 'token expired');
    return { principal: { userId: holder.userId, role: holder.role }, expiresAt: holder.tokenExpiresAt };
  }

  async function openSse(req: Request, res: Response) {
    const params = new URL(req.originalUrl, 'http://localhost').searchParams;
    const badOrigin = originRefusal(req.header('origin'));
    if (badOrigin) throw new HttpError(403, 'forbidden', badOrigin);
    let since: number | undefined;
    let filter: F;
    try {
      refuseTokenInUrl(
        params,
        'send Authorization: Bearer <jwt>, or a ticket from POST ' + `${ssePath}/ticket`,
      );
      // An EventSource reconnecting on its own sends the last `id:` it saw; a client that
      // reconnects itself (with a new ticket) passes it as `since`.
      since =
        parsePosition(req.header('last-event-id'), 'Last-Event-ID') ?? parsePosition(params.get('since'));
      filter = options.parseFilter(params);
    } catch (err) {
      if (err instanceof QueryError)
        throw new HttpError(400, 'validation_failed', `invalid query: ${err.message}`);
      throw err;
    }
    const { principal, expiresAt } = await sseCaller(req, params);
    const key = await options.authorize(principal, filter);
    res.locals.logged = true; // a stream that ends is not a failed request
    const transport = sseTransport(req, res);
    hub.attach({
      transport,
      key,
      userId: principal.userId,
      since,
      expiresAt,
      matches: (event) => options.matches(event, filter),
    });
  }

  const routes = Router();
  routes.get(ssePath, openSse);
  routes.post(`${ssePath}/ticket`, auth.requireUser, async (req, res) => {
    const header = req.header('authorization') ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
    const principal = req.principal!;
    const ticket = await issueTicket(pool, ssePath, {
      userId: principal.userId,
      role: principal.role,
      tokenExpiresAt: (decodeJwt(token).exp ?? 0) * 1000,
    });
    res.setHeader('cache-control', 'no-store');
    res.status(201).json({ ticket, expires_in: Math.floor(STREAM_TICKET_TTL_MS / 1000) });
  });

  let server: Server | undefined;
  return {
    name,
    routes,
    /** An event stored under `sequence` in `key`'s history: to that subscriber's open connections here. */
    publish: hub.publish,
    /** All of this replica's connections, or those one user holds. */
    stats(userId?: string): LiveStreamStats {
      return { stream: name, ...hub.stats(userId ? (c) => c.userId === userId : undefined) };
    },
    /** Starts taking WebSocket upgrades on the service's HTTP server. */
    listen(httpServer: Server) {
      server = httpServer;
      server.on('upgrade', upgradeListener);
    },
    async stop() {
      server?.off('upgrade', upgradeListener);
      await hub.stop();
      wss.close();
    },
  };
}

export type LiveStream<E = unknown, F = unknown> = ReturnType<typeof createLiveStream<E, F>>;
