/** Task requests wired to the store: loading pages, and changes that show at once and roll back on error. */
import type { CreateTaskBody, Task, TaskPage, UpdateTaskBody } from '../types.js';
import { type Api, ApiError, errorMessage } from './api.js';
import type { TaskStore } from './tasks.js';

export type Notice = (message: string, kind?: 'info' | 'error') => void;

const PAGE_SIZE = 50;

const taskPath = (id: string) => `/api/tasks/${encodeURIComponent(id)}`;

export function taskActions(api: Api, store: TaskStore, notice: Notice) {
  let loadToken = 0;

  async function load(more = false) {
    const token = ++loadToken;
    store.loading = true;
    store.error = null;
    store.notify();
    try {
      const page = await api.request<TaskPage>('GET', '/api/tasks', {
        query: {
          ...store.filters,
          sort: store.sort,
          limit: PAGE_SIZE,
          cursor: more ? store.nextCursor : undefined,
        },
      });
      if (token !== loadToken) return;
      store.nextCursor = page.next_cursor;
      store.loaded = true;
      store.merge(page.items);
    } catch (err) {
      if (token !== loadToken) return;
      store.error = errorMessage(err);
    } finally {
      if (token === loadToken) {
        store.loading = false;
        store.notify();
      }
    }
  }

  /** Shows `fields` at once, sends the request, keeps the answer or rolls back. */
  async function optimistic(
    task: Task,
    fields: Partial<Task>,
    send: () => Promise<Task>,
    what: string,
  ): Promise<boolean> {
    const op = store.begin(task.id, { kind: 'patch', fields });
    try {
      store.settle(op, await send());
      return true;
    } catch (err) {
      store.rollback(op);
      notice(`Could not ${what} “${task.title}”: ${errorMessage(err)}`, 'error');
      if (err instanceof ApiError && (err.status === 412 || err.status === 404)) await refresh(task.id);
      return false;
    }
  }

  /** The server's current copy of a task (after a conflict), or its removal when it is gone. */
  async function refresh(taskId: string) {
    try {
      store.merge([await api.request<Task>('GET', taskPath(taskId))]);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        store.applyEvent({
          type: 'com.taskstream.task.deleted',
          data: { payload: { task: { id: taskId, version: Number.MAX_SAFE_INTEGER } } },
        });
      }
    }
  }

  return {
    load,
    refresh,
    complete(task: Task) {
      const now = new Date().toISOString();
      return optimistic(
        task,
        { status: 'completed', completed_at: now },
        () => api.request<Task>('POST', `${taskPath(task.id)}/complete`),
        'complete',
      );
    },
    reopen(task: Task) {
      return optimistic(
        task,
        { status: 'pending', completed_at: null },
        () => api.request<Task>('POST', `${taskPath(task.id)}/reopen`),
        'reopen',
      );
    },
    /** A PATCH of the fields changed, conditional on the version the edit started from. */
    update(task: Task, fields: UpdateTaskBody, baseVersion: number) {
      return optimistic(
        task,
        fields as Partial<Task>,
        () =>
          api.request<Task>('PATCH', taskPath(task.id), {
            body: fields,
            headers: { 'if-match': `"${baseVersion}"` },
          }),
        'save',
      );
    },
    async remove(task: Task): Promise<boolean> {
      const version = store.confirmed(task.id)?.version ?? task.version;
      const op = store.begin(task.id, { kind: 'delete' });
      try {
        await api.request('DELETE', taskPath(task.id), { headers: { 'if-match': `"${version}"` } });
        store.settle(op, 'deleted');
        return true;
      } catch (err) {
        store.rollback(op);
        notice(`Could not delete “${task.title}”: ${errorMessage(err)}`, 'error');
        if (err instanceof ApiError && err.status === 412) await refresh(task.id);
        return false;
      }
    },
    /** Create with an Idempotency-Key, so a retried submit never makes two tasks. */
    async create(body: CreateTaskBody, idempotencyKey: string): Promise<Task> {
      const task = await api.request<Task>('POST', '/api/tasks', {
        body,
        headers: { 'idempotency-key': idempotencyKey },
      });
      store.merge([task]);
      return task;
    },
  };
}

export type TaskActions = ReturnType<typeof taskActions>;
