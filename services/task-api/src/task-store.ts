import { DateTime, isWellFormedText, type ListTasksQuery, type Task } from '@taskstream/contracts';
import { badRequest, type Queryable } from '@taskstream/platform';

export interface TaskRow {
  id: string;
  user_id: string;
  title: string;
  description: string;
  status: Task['status'];
  priority: Task['priority'];
  tags: string[];
  due_date: Date | null;
  time_zone: string;
  recurrence: Task['recurrence'];
  reminders: Task['reminders'];
  series_id: string | null;
  occurrence: number;
  version: number;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

const COLUMNS = `id, user_id, title, description, status, priority, tags, due_date, time_zone, recurrence, reminders,
  series_id, occurrence, version, created_at, updated_at, completed_at`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const toTask = (row: TaskRow): Task => ({
  ...row,
  due_date: iso(row.due_date),
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
  completed_at: iso(row.completed_at),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (id: string) => UUID.test(id);

/** A live task of this user. */
export async function findTask(db: Queryable, userId: string, id: string): Promise<Task | undefined> {
  if (!isUuid(id)) return undefined;
  const { rows } = await db.query<TaskRow>({
    name: 'task_api_find_task',
    text: `SELECT ${COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
    values: [id, userId],
  });
  return rows[0] ? toTask(rows[0]) : undefined;
}

export const TASK_COLUMNS = COLUMNS;

/** Typed placeholders `$1::uuid, …` for TASK_COLUMNS, as `taskValues` fills them (typed, so also usable in a SELECT). */
export const TASK_PLACEHOLDERS =
  'uuid uuid text text text text text[] timestamptz text jsonb jsonb uuid int int timestamptz timestamptz timestamptz'
    .split(' ')
    .map((type, i) => `$${i + 1}::${type}`)
    .join(', ');

/** A task as the parameters of an insert of TASK_COLUMNS, in that order. */
export function taskValues(task: Task): unknown[] {
  return [
    task.id,
    task.user_id,
    task.title,
    task.description,
    task.status,
    task.priority,
    task.tags,
    task.due_date,
    task.time_zone,
    task.recurrence === null ? null : JSON.stringify(task.recurrence),
    JSON.stringify(task.reminders),
    task.series_id,
    task.occurrence,
    task.version,
    task.created_at,
    task.updated_at,
    task.completed_at,
  ];
}

const isTime = (v: unknown) => typeof v === 'string' && DateTime.safeParse(v).success;

/**
 * Keyset paging: the cursor holds the last row's sort value and id. `valid` says whether a
 * cursor's value can be that key's: the value is cast in SQL, where a made-up or another sort's
 * cursor would fail as a 500 instead of a 400.
 */
const SORT_KEYS: Record<
  string,
  {
    expr: string;
    cast: string;
    value: (t: Task & { priority_rank?: number }) => unknown;
    valid: (v: unknown) => boolean;
  }
> = {
  created_at: { expr: 'created_at', cast: 'timestamptz', value: (t) => t.created_at, valid: isTime },
  updated_at: { expr: 'updated_at', cast: 'timestamptz', value: (t) => t.updated_at, valid: isTime },
  // Tasks without a due date sort after every dated task.
  due_date: {
    expr: "COALESCE(due_date, 'infinity'::timestamptz)",
    cast: 'timestamptz',
    value: (t) => t.due_date ?? 'infinity',
    valid: (v) => v === 'infinity' || isTime(v),
  },
  // "priority" ascending means high first.
  priority: {
    expr: 'priority_rank',
    cast: 'smallint',
    value: (t) => ({ high: 0, medium: 1, low: 2 })[t.priority],
    valid: (v) => v === 0 || v === 1 || v === 2,
  },
  title: {
    expr: 'title',
    cast: 'text',
    value: (t) => t.title,
    valid: (v) => typeof v === 'string' && isWellFormedText(v),
  },
};

export function encodeCursor(value: unknown, id: string) {
  return Buffer.from(JSON.stringify([value, id])).toString('base64url');
}

function decodeCursor(cursor: string, valid: (value: unknown) => boolean): [unknown, string] {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(decoded) &&
      decoded.length === 2 &&
      valid(decoded[0]) &&
      typeof decoded[1] === 'string' &&
      isUuid(decoded[1])
    ) {
      return decoded as [unknown, string];
    }
  } catch {
    // fall through
  }
  throw badRequest(
    'cursor is not valid for this sort; use next_cursor from a previous page with the same sort',
    {
      field: 'cursor',
    },
  );
}

export async function listTasks(db: Queryable, userId: string, query: ListTasksQuery) {
  const params: unknown[] = [userId];
  const where = ['user_id = $1', 'deleted_at IS NULL'];
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (query.status) add((p) => `status = ${p}`, query.status);
  if (query.priority) add((p) => `priority = ${p}`, query.priority);
  if (query.tag) add((p) => `${p} = ANY(tags)`, query.tag);
  if (query.q)
    add((p) => `(title ILIKE ${p} OR description ILIKE ${p})`, `%${query.q.replace(/[\\%_]/g, '\\$&')}%`);
  if (query.due_before) add((p) => `due_date < ${p}`, query.due_before);
  if (query.due_after) add((p) => `due_date >= ${p}`, query.due_after);

  const descending = query.sort.startsWith('-');
  const key = SORT_KEYS[query.sort.replace(/^-/, '')]!;
  if (query.cursor) {
    const [value, id] = decodeCursor(query.cursor, key.valid);
    params.push(value, id);
    const op = descending ? '<' : '>';
    where.push(`(${key.expr}, id) ${op} ($${params.length - 1}::${key.cast}, $${params.length}::uuid)`);
  }
  params.push(query.limit + 1);
  const direction = descending ? 'DESC' : 'ASC';
  const { rows } = await db.query<TaskRow>(
    `SELECT ${COLUMNS} FROM tasks WHERE ${where.join(' AND ')}
     ORDER BY ${key.expr} ${direction}, id ${direction} LIMIT $${params.length}`,
    params,
  );
  const items = rows.slice(0, query.limit).map(toTask);
  const last = items.at(-1);
  const next_cursor = rows.length > query.limit && last ? encodeCursor(key.value(last), last.id) : null;
  return { items, next_cursor };
}
