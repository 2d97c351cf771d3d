import { createHash } from 'node:crypto';
import { TYPE_PREFIX } from '@taskstream/contracts';
import { badRequest, type Principal, type Queryable } from '@taskstream/platform';

/** The rows a request may see and asked for. */
export interface Selection {
  actor?: string;
  /** Rows of the account known by this email (audit_actors, ADR 0025). */
  actorEmail?: string;
  taskId?: string;
  action?: string;
  /** Inclusive. */
  start?: string;
  /** Exclusive. */
  end?: string;
  /** Word prefixes that must all occur (AND). */
  terms?: string[];
  /** Nothing can match: a user asked for another user's rows. */
  empty?: boolean;
}

export interface AuditFilters {
  user_id?: string;
  actor_email?: string;
  task_id?: string;
  event_type?: string;
  start_date?: string;
  end_date?: string;
  q?: string;
}

const MAX_TERMS = 10;

/** The words of a free-text query, lower-cased letters and digits only (safe inside a tsquery). */
export function searchTerms(q: string): string[] {
  return (
    q
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  ).slice(0, MAX_TERMS);
}

/**
 * What a principal's filters select. A user sees their own rows only: `user_id` of anyone else
 * selects nothing (an empty page, not an error, so it tells nothing about other users), and so
 * does `actor_email` of anyone else (their own rows are also this account's, so the two
 * conditions together select none). Admins see every row and may filter by any user.
 */
export function selectionOf(principal: Principal, filters: AuditFilters): Selection {
  const own = principal.role === 'admin' ? undefined : principal.userId;
  if (own && filters.user_id && filters.user_id !== own) return { empty: true };
  if (
    filters.start_date &&
    filters.end_date &&
    Date.parse(filters.start_date) > Date.parse(filters.end_date)
  ) {
    throw badRequest('start_date must not be after end_date', { field: 'start_date' });
  }
  const terms = filters.q === undefined ? [] : searchTerms(filters.q);
  return {
    actor: own ?? filters.user_id,
    actorEmail: filters.actor_email,
    taskId: filters.task_id,
    action: filters.event_type?.startsWith(TYPE_PREFIX)
      ? filters.event_type.slice(TYPE_PREFIX.length)
      : filters.event_type,
    start: filters.start_date,
    end: filters.end_date,
    terms: terms.length > 0 ? terms : undefined,
  };
}

/** SQL conditions of a selection; pushes its parameters onto `params`. */
export function conditions(selection: Selection, params: unknown[]): string[] {
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (selection.empty) return ['false'];
  const where: string[] = [];
  if (selection.actor) where.push(`actor = ${param(selection.actor)}::uuid`);
  if (selection.actorEmail)
    where.push(
      `actor IN (SELECT user_id FROM audit_actors WHERE lower(email) = lower(${param(selection.actorEmail)}))`,
    );
  if (selection.taskId) where.push(`task_id = ${param(selection.taskId)}::uuid`);
  if (selection.action) where.push(`action = ${param(selection.action)}`);
  if (selection.start) where.push(`time >= ${param(selection.start)}::timestamptz`);
  if (selection.end) where.push(`time < ${param(selection.end)}::timestamptz`);
  if (selection.terms) {
    // Within one user's or one task's rows (few, found by their btree index) checking each row
    // is faster than the GIN index, whose prefix look-ups of common words touch thousands of
    // entries and which the planner misjudges; `|| ''` keeps it from using the index there.
    const vector =
      selection.actor || selection.actorEmail || selection.taskId ? `(search || ''::tsvector)` : 'search';
    where.push(
      `${vector} @@ to_tsquery('simple', ${param(selection.terms.map((t) => `${t}:*`).join(' & '))})`,
    );
  }
  return where;
}

/** Keyset position: the exact stored time (microseconds) and id of the last row seen. */
export type Position = [timeKey: string, id: string];

const TIME_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export const encodeCursor = (position: Position) =>
  Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');

export function decodeCursor(cursor: string): Position {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      TIME_KEY.test(value[0]) &&
      /^\d{1,18}$/.test(value[1])
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // falls through to the error below
  }
  throw badRequest('cursor is not valid; use next_cursor from a previous page', { field: 'cursor' });
}

export interface AuditLogRow {
  id: string;
  event_id: string;
  time: Date;
  time_key: string;
  actor: string | null;
  actor_email: string | null;
  action: string;
  task_id: string | null;
  changes: Record<string, { before: unknown; after: unknown }>;
  trace_id: string | null;
  source: string;
  payload: unknown;
  hash: string;
}

/** The title a task event carried (security events have none). */
function titleOf(payload: unknown): string | null {
  const title = (payload as { task?: { title?: unknown } } | null)?.task?.title;
  return typeof title === 'string' ? title : null;
}

/** The public shape (AuditLog of contracts). */
export function toAuditLog(row: AuditLogRow) {
  return {
    id: row.id,
    event_id: row.event_id,
    time: row.time.toISOString(),
    actor: row.actor,
    actor_email: row.actor_email,
    action: row.action,
    task_id: row.task_id,
    task_title: row.task_id ? titleOf(row.payload) : null,
    changes: row.changes,
    trace_id: row.trace_id,
    source: row.source,
    payload: row.payload,
    hash: row.hash,
  };
}
export type AuditLog = ReturnType<typeof toAuditLog>;

/** Up to `limit` rows of the selection after `after`, newest first. */
export async function fetchRows(
  db: Queryable,
  selection: Selection,
  after: Position | undefined,
  limit: number,
): Promise<AuditLogRow[]> {
  if (selection.empty) return [];
  const params: unknown[] = [];
  const where = conditions(selection, params);
  if (after) {
    params.push(after[0], after[1]);
    where.push(`(time, id) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
  }
  params.push(limit);
  // Names come from audit_actors (ADR 0025); its columns share no name with audit_logs', so the
  // conditions above stay unqualified.
  const text = `SELECT id::text AS id, event_id, time, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time_key,
       actor, audit_actors.email AS actor_email, action, task_id, changes, trace_id, source, payload, hash
     FROM audit_logs LEFT JOIN audit_actors ON audit_actors.user_id = audit_logs.actor
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY audit_logs.time DESC, audit_logs.id DESC LIMIT $${params.length}`;
  // A named (prepared) statement per filter combination: planning over every partition's
  // indexes costs more than running the query, and the plan is kept per connection.
  const name = `audit_logs_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
  const { rows } = await db.query<AuditLogRow>({ name, text, values: params });
  return rows;
}

export const positionOf = (row: AuditLogRow): Position => [row.time_key, row.id];

/** One page and the cursor of the next (null on the last page). */
export async function fetchPage(
  db: Queryable,
  selection: Selection,
  cursor: string | undefined,
  limit: number,
) {
  const rows = await fetchRows(db, selection, cursor ? decodeCursor(cursor) : undefined, limit + 1);
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(toAuditLog),
    next_cursor: rows.length > limit && last ? encodeCursor(positionOf(last)) : null,
  };
}
