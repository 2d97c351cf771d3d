/**
 * The wire rules every live stream shares (`WS /ws/tasks` and `GET /api/sync/stream` today; a
 * second stream such as the payments tracker tomorrow): close codes, frames, where a replay
 * starts. No Node-only imports here: browsers bundle this file through `@taskstream/sync/client`.
 */

/** Close codes (4000–4999 are the application's). Over SSE they arrive in a final `close` event. */
export const CloseCodes = {
  /** Normal end (client or server). */
  normal: 1000,
  /** The server is shutting down; reconnect (to another replica). */
  goingAway: 1001,
  /** The token could not be checked (the issuer's key set is unreachable); reconnect later. */
  tryAgainLater: 1013,
  /**
   * Query parameters the server cannot use (e.g. `since=abc`, or a token in the URL);
   * reconnecting does not help.
   */
  badRequest: 4400,
  /** Missing, malformed, expired or forged token; sent before any data. */
  unauthorized: 4401,
  /** The page's `Origin` is not in `SYNC_ALLOWED_ORIGINS`; sent before any data. */
  originNotAllowed: 4403,
  /** The stream refuses what the filter asks for (e.g. another user's wallet), as REST answers 404. */
  notFound: 4404,
  /** The user already holds `SYNC_MAX_CONNECTIONS_PER_USER` connections on this replica; sent before any data. */
  tooManyConnections: 4409,
  /** The client did not read: its send buffer reached the bound; reconnect with `since`. */
  slowConsumer: 4429,
  /**
   * The token the connection was opened with reached its `exp` (HTTP 498, "token expired"):
   * everything before was sent; reconnect at once with a renewed token and `since`.
   */
  tokenExpired: 4498,
} as const;

/** Codes after which a client must not reconnect on its own. */
export const FATAL_CLOSE_CODES: readonly number[] = [
  CloseCodes.badRequest,
  CloseCodes.unauthorized,
  CloseCodes.originNotAllowed,
  CloseCodes.notFound,
];

/** Subprotocol a browser uses to carry the token: `new WebSocket(url, ['bearer', jwt])`. */
export const BEARER_PROTOCOL = 'bearer';

/**
 * A frame from the server (a WebSocket text frame, or the `data` of an SSE event whose `event`
 * is the type and whose `id` is the sequence):
 * - `event`: one event with the subscriber's sequence (gap-free per subscriber, 1, 2, 3, ...).
 * - `resync`: `since` is older than the kept history (or unknown): reload over REST, then
 *   continue from `sequence`.
 * - `hello`: the replay is done and live events follow; `sequence` is where the stream stands
 *   (a client that filters may have seen fewer), so a client stores it as its position.
 */
export type LiveMessage<E> =
  | { type: 'event'; sequence: number; event: E }
  | { type: 'resync'; sequence: number }
  | { type: 'hello'; sequence: number };

/** The last SSE event of a stream the server ends: why, as a WebSocket close would say. */
export interface StreamClose {
  code: number;
  reason: string;
}

export class QueryError extends Error {}

/** Repeated parameters and comma lists both work: `tag=a&tag=b` = `tag=a,b`. */
export function listParam(params: URLSearchParams, ...names: string[]): Set<string> | undefined {
  const values = names.flatMap((name) => params.getAll(name)).flatMap((v) => v.split(','));
  const cleaned = values.map((v) => v.trim()).filter((v) => v.length > 0);
  return cleaned.length > 0 ? new Set(cleaned) : undefined;
}

/** A position (`since`, or SSE's `Last-Event-ID`): a whole number, or absent. */
export function parsePosition(text: string | null | undefined, name = 'since'): number | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  if (!/^\d{1,15}$/.test(text)) throw new QueryError(`${name}: a whole number ≥ 0`);
  return Number(text);
}

/**
 * A token in the URL is refused, valid or not: URLs end up in proxies' access logs and browser
 * history (ADR 0007). `hint` says where the token goes instead.
 */
export function refuseTokenInUrl(params: URLSearchParams, hint: string) {
  if (params.has('token') || params.has('access_token')) throw new QueryError(`no token in the URL: ${hint}`);
}

/** The token from `Sec-WebSocket-Protocol: bearer, <jwt>` (the protocol after `bearer`). */
export function tokenFromProtocols(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const protocols = header.split(',').map((p) => p.trim());
  const at = protocols.indexOf(BEARER_PROTOCOL);
  return at >= 0 ? protocols[at + 1] || undefined : undefined;
}

/**
 * Where a replay from `since` starts, given the subscriber's current sequence and the oldest one
 * still kept. `resync` when the client missed events the window no longer holds, or claims a
 * position the server never reached (its history was reset).
 */
export function replayPlan(
  since: number,
  latest: number,
  oldestKept: number | undefined,
): 'none' | 'replay' | 'resync' {
  if (since > latest) return 'resync';
  if (since === latest) return 'none';
  if (oldestKept === undefined || oldestKept > since + 1) return 'resync';
  return 'replay';
}
