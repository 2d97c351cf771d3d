/**
 * The wire protocol of `WS /ws/tasks`, `GET /api/sync/stream` (SSE) and `GET /api/sync/events`, shared by the server and the
 * client (no Node-only imports here: the browser bundles this file through client.ts).
 */

import type { LiveMessage } from '@taskstream/platform/live-protocol';
import { listParam, parsePosition, QueryError, refuseTokenInUrl } from '@taskstream/platform/live-protocol';

// The rules every live stream shares (close codes, the bearer subprotocol, where a replay starts)
// are platform's (ADR 0019); re-exported so that this module stays the task stream's whole protocol.
export {
  BEARER_PROTOCOL,
  CloseCodes,
  FATAL_CLOSE_CODES,
  QueryError,
  replayPlan,
  type StreamClose,
  tokenFromProtocols,
} from '@taskstream/platform/live-protocol';

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
export type ServerMessage = LiveMessage<SyncedEvent>;

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

/**
 * `since` and the filters `task_id`, `status`, `tag` of a `/ws/tasks` URL. A token in the URL is
 * refused, valid or not: URLs end up in proxies' access logs and browser history (ADR 0007).
 */
export function parseLiveQuery(params: URLSearchParams): LiveQuery {
  refuseTokenInUrl(params, 'send it as Sec-WebSocket-Protocol: bearer, <jwt>');
  return { since: parsePosition(params.get('since')), filter: parseSyncFilter(params) };
}

/** The filters `task_id`, `status`, `tag` of a `/ws/tasks` or `/api/sync/stream` URL. */
export function parseSyncFilter(params: URLSearchParams): SyncFilter {
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
  return filter;
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
