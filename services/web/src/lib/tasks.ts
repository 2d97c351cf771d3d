/**
 * The task list as the browser holds it: what the server confirmed (REST pages and live events,
 * newest version wins), with optimistic changes laid over it until the server answers. A failed
 * change is dropped from the overlay, which is the rollback: the list shows the confirmed task again.
 */
import type { Priority, Task, TaskSort, TaskStatus } from '../types.js';

export type { Task, TaskSort };

export interface TaskFilters {
  status?: TaskStatus;
  priority?: Priority;
  tag?: string;
  q?: string;
  /** ISO instants: due_after inclusive, due_before exclusive (as the API). */
  due_after?: string;
  due_before?: string;
}

export type Change = { kind: 'patch'; fields: Partial<Task> } | { kind: 'delete' };

interface PendingOp {
  id: number;
  taskId: string;
  change: Change;
}

/** The part of a live event the list uses (a `SyncedEvent` from services/sync). */
export interface TaskEventLike {
  type: string;
  data: { task_id?: string; payload?: Record<string, unknown> };
}

const PRIORITY_RANK: Record<Priority, number> = { high: 0, medium: 1, low: 2 };

/** Whether a task belongs in a list with these filters: the server's rules (task-store.ts). */
export function matchesFilters(task: Task, filters: TaskFilters): boolean {
  if (filters.status && task.status !== filters.status) return false;
  if (filters.priority && task.priority !== filters.priority) return false;
  if (filters.tag && !task.tags.includes(filters.tag)) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    if (!task.title.toLowerCase().includes(q) && !task.description.toLowerCase().includes(q)) return false;
  }
  if (
    filters.due_before &&
    !(task.due_date !== null && Date.parse(task.due_date) < Date.parse(filters.due_before))
  )
    return false;
  if (
    filters.due_after &&
    !(task.due_date !== null && Date.parse(task.due_date) >= Date.parse(filters.due_after))
  )
    return false;
  return true;
}

function sortValue(task: Task, key: string): number | string {
  switch (key) {
    case 'created_at':
      return Date.parse(task.created_at);
    case 'updated_at':
      return Date.parse(task.updated_at);
    case 'due_date':
      // Tasks without a due date sort after every dated task.
      return task.due_date === null ? Number.POSITIVE_INFINITY : Date.parse(task.due_date);
    case 'priority':
      return PRIORITY_RANK[task.priority];
    default:
      return task.title;
  }
}

/** The API's order: the sort key, then the id, both in the sort's direction. */
export function compareTasks(sort: TaskSort): (a: Task, b: Task) => number {
  const descending = sort.startsWith('-');
  const key = sort.replace(/^-/, '');
  return (a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    let c = va < vb ? -1 : va > vb ? 1 : 0;
    if (c === 0) c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return descending ? -c : c;
  };
}

export const TASK_EVENT_PREFIX = 'com.taskstream.task.';

export class TaskStore {
  filters: TaskFilters = {};
  sort: TaskSort = '-created_at';
  nextCursor: string | null = null;
  loading = false;
  loaded = false;
  error: string | null = null;

  private known = new Map<string, Task>();
  /** Deleted tasks and the version they were deleted at; older copies are ignored. */
  private tombstones = new Map<string, number>();
  private ops: PendingOp[] = [];
  private nextOpId = 1;
  private listeners = new Set<() => void>();
  private cache: Task[] | undefined;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify() {
    this.cache = undefined;
    for (const listener of this.listeners) listener();
  }

  /** A new query: the confirmed list is emptied (pending changes stay) and loaded again. */
  setQuery(filters: TaskFilters, sort: TaskSort) {
    this.filters = filters;
    this.sort = sort;
    this.known.clear();
    this.nextCursor = null;
    this.loaded = false;
    this.error = null;
    this.notify();
  }

  /** A page from the server; a task already known in a newer version keeps that version. */
  merge(tasks: Task[]) {
    for (const task of tasks) this.upsert(task);
    this.notify();
  }

  private upsert(task: Task): boolean {
    const deletedAt = this.tombstones.get(task.id);
    if (deletedAt !== undefined && deletedAt >= task.version) return false;
    const current = this.known.get(task.id);
    if (current && current.version >= task.version) return false;
    this.known.set(task.id, task);
    return true;
  }

  private forget(taskId: string, version: number) {
    this.known.delete(taskId);
    this.tombstones.set(taskId, Math.max(version, this.tombstones.get(taskId) ?? 0));
  }

  /** A live event; returns whether it was a task event (applied or already known). */
  applyEvent(event: TaskEventLike): boolean {
    if (!event.type.startsWith(TASK_EVENT_PREFIX)) return false;
    const task = event.data.payload?.task as Task | undefined;
    if (!task || typeof task.id !== 'string') return false;
    if (event.type === `${TASK_EVENT_PREFIX}deleted`) this.forget(task.id, task.version);
    else this.upsert(task);
    this.notify();
    return true;
  }

  /** Starts an optimistic change; the returned id settles or rolls it back. */
  begin(taskId: string, change: Change): number {
    const id = this.nextOpId++;
    this.ops.push({ id, taskId, change });
    this.notify();
    return id;
  }

  /** The server accepted the change: its answer becomes the confirmed task. */
  settle(opId: number, result: Task | 'deleted') {
    const op = this.ops.find((o) => o.id === opId);
    this.ops = this.ops.filter((o) => o.id !== opId);
    if (result === 'deleted') {
      if (op) this.forget(op.taskId, Number.MAX_SAFE_INTEGER);
    } else {
      this.upsert(result);
    }
    this.notify();
  }

  /** The server refused the change: the list shows the confirmed task again. */
  rollback(opId: number) {
    this.ops = this.ops.filter((o) => o.id !== opId);
    this.notify();
  }

  /** The confirmed task (no pending changes): what an If-Match must name. */
  confirmed(taskId: string): Task | undefined {
    return this.known.get(taskId);
  }

  /** The task as shown: confirmed plus pending changes; undefined when gone. */
  get(taskId: string): Task | undefined {
    const base = this.known.get(taskId);
    return base ? this.overlay(base) : undefined;
  }

  isPending(taskId: string): boolean {
    return this.ops.some((o) => o.taskId === taskId);
  }

  private overlay(task: Task): Task | undefined {
    let shown: Task | undefined = task;
    for (const op of this.ops) {
      if (op.taskId !== task.id || !shown) continue;
      shown = op.change.kind === 'delete' ? undefined : { ...shown, ...op.change.fields };
    }
    return shown;
  }

  /** The list to show: filtered and sorted the way the server would. */
  view(): Task[] {
    if (this.cache) return this.cache;
    const shown: Task[] = [];
    for (const task of this.known.values()) {
      const t = this.overlay(task);
      if (t && matchesFilters(t, this.filters)) shown.push(t);
    }
    this.cache = shown.sort(compareTasks(this.sort));
    return this.cache;
  }
}
