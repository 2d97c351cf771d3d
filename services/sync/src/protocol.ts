/**
 * The wire protocol of `WS /ws/tasks` and `GET /api/sync/events`, shared by the server and the
 * client (no Node-only imports here: the browser bundles this file through client.ts).
 */

/** Close codes (4000–4999 are the application's). */
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
];

/** Subprotocol a browser uses to carry the token: `new WebSocket(url, ['bearer', jwt])`. */
export const BEARER_PROTOCOL = 'bearer';

/** The CloudEvent as stored and sent (validated on intake by the server). */
export interface SyncedEvent {
  id: string;
  type: string;
  time: string;
  subject?: string;
  data: {
    user_id: string;
    task_id: string;
    /** task-api's mutation counter (task events only have a meaning for it); not the sync sequence. */
    sequence: number;
    payload: Record<string, unknown>;
    changed_fields: string[];
    [field: string]: unknown;
  };
  [attribute: string]: unknown;
}

/**
 * A frame from the server (JSON text; `SyncMessage` in contracts):
 * - `event`: one event with the user's sync sequence (gap-free per user, 1, 2, 3, ...).
 * - `resync`: `since` is older than the kept history (or unknown): reload over REST, then
 *   continue from `sequence`.
 * - `hello`: the replay is done and live events follow; `sequence` is where the user's stream
 *   stands (a client that filters may have seen fewer), so a client stores it as its position.
 */
export type ServerMessage =
  | { type: 'event'; sequence: number; event: SyncedEvent }
  | { type: 'resync'; sequence: number }
  | { type: 'hello'; sequence: number };

/** Per-connection filters: an event passes when it matches every filter given. */
export interface SyncFilter {
  taskIds?: Set<string>;
  statuses?: Set<string>;
  tags?: Set<string>;
}

export interface LiveQuery {
  since?: number;
  filter: SyncFilter;
}

/** Repeated parameters and comma lists both work: `tag=a&tag=b` = `tag=a,b`. */
function listParam(params: URLSearchParams, ...names: string[]): Set<string> | undefined {
  const values = names.flatMap((name) => params.getAll(name)).flatMap((v) => v.split(','));
  const cleaned = values.map((v) => v.trim()).filter((v) => v.length > 0);
  return cleaned.length > 0 ? new Set(cleaned) : undefined;
}

export class QueryError extends Error {}

/**
 * `since` and the filters `task_id`, `status`, `tag` of a `/ws/tasks` URL. A token in the URL is
 * refused, valid or not: URLs end up in proxies' access logs and browser history (ADR 0007).
 */
export function parseLiveQuery(params: URLSearchParams): LiveQuery {
  if (params.has('token'))
    throw new QueryError('no token in the URL: send it as Sec-WebSocket-Protocol: bearer, <jwt>');
  const sinceText = params.get('since');
  let since: number | undefined;
  if (sinceText !== null && sinceText !== '') {
    if (!/^\d{1,15}$/.test(sinceText)) throw new QueryError('since: a whole number ≥ 0');
    since = Number(sinceText);
  }
  const statuses = listParam(params, 'status');
  for (const status of statuses ?? []) {
    if (status !== 'pending' && status !== 'completed')
      throw new QueryError(`status: pending or completed, not ${status}`);
  }
  const filter: SyncFilter = {};
  const taskIds = listParam(params, 'task_id', 'task_ids');
  if (taskIds) filter.taskIds = taskIds;
  if (statuses) filter.statuses = statuses;
  const tags = listParam(params, 'tag', 'tags');
  if (tags) filter.tags = tags;
  return { since, filter };
}

/** The token from `Sec-WebSocket-Protocol: bearer, <jwt>` (the protocol after `bearer`). */
export function tokenFromProtocols(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const protocols = header.split(',').map((p) => p.trim());
  const at = protocols.indexOf(BEARER_PROTOCOL);
  return at >= 0 ? protocols[at + 1] || undefined : undefined;
}

export function hasFilter(filter: SyncFilter): boolean {
  return Boolean(filter.taskIds || filter.statuses || filter.tags);
}

/**
 * Whether an event passes the connection's filters. Status and tags are those of the task in
 * the payload; an event without a task (e.g. an in-app notification) passes only when no status
 * or tag filter is set.
 */
export function matchesFilter(event: SyncedEvent, filter: SyncFilter): boolean {
  if (filter.taskIds && !filter.taskIds.has(event.data.task_id)) return false;
  if (!filter.statuses && !filter.tags) return true;
  const task = event.data.payload?.task as { status?: unknown; tags?: unknown } | undefined;
  if (!task) return false;
  if (filter.statuses && !(typeof task.status === 'string' && filter.statuses.has(task.status))) return false;
  if (filter.tags) {
    const tags = Array.isArray(task.tags) ? task.tags : [];
    if (!tags.some((tag) => typeof tag === 'string' && filter.tags!.has(tag))) return false;
  }
  return true;
}

/**
 * Where a replay from `since` starts, given the user's current sequence and the oldest one still
 * kept. `resync` when the client missed events the window no longer holds, or claims a position
 * the server never reached (its history was reset).
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
