import { sampleTask } from '@taskstream/platform/test-support';
import type { Task } from '../types.js';
import { compareTasks, matchesFilters, TaskStore } from './tasks.js';

let counter = 0;
/** A task with a predictable id, title and creation time, in creation order. */
function task(fields: Partial<Task> = {}): Task {
  counter++;
  const at = new Date(Date.UTC(2026, 0, 1, 0, counter)).toISOString();
  return sampleTask('0190a000-0000-7000-8000-aaaaaaaaaaaa', {
    id: `0190a000-0000-7000-8000-${String(counter).padStart(12, '0')}`,
    title: `task ${counter}`,
    created_at: at,
    updated_at: at,
    ...fields,
  });
}

const event = (kind: string, t: Task) => ({
  type: `com.taskstream.task.${kind}`,
  data: { task_id: t.id, payload: { task: t } },
});

describe('the task store', () => {
  it('keeps the newest version whichever arrives first, page or event', () => {
    const store = new TaskStore();
    const v1 = task({ title: 'old' });
    const v2 = { ...v1, title: 'new', version: 2 };
    store.applyEvent(event('updated', v2));
    store.merge([v1]);
    expect(store.view().map((t) => t.title)).toEqual(['new']);
    store.applyEvent(event('updated', v1));
    expect(store.get(v1.id)?.version).toBe(2);
  });

  it('forgets a deleted task and ignores older copies of it afterwards', () => {
    const store = new TaskStore();
    const t = task();
    store.merge([t]);
    store.applyEvent(event('deleted', { ...t, version: 2 }));
    store.merge([t]);
    store.applyEvent(event('updated', { ...t, version: 2 }));
    expect(store.view()).toEqual([]);
  });

  it('ignores events that are not task events', () => {
    const store = new TaskStore();
    expect(
      store.applyEvent({
        type: 'com.taskstream.notification.created',
        data: { payload: { notification_id: 'n' } },
      }),
    ).toBe(false);
    expect(store.view()).toEqual([]);
  });

  it('shows an optimistic change at once and drops it on rollback', () => {
    const store = new TaskStore();
    const t = task();
    store.merge([t]);
    const op = store.begin(t.id, { kind: 'patch', fields: { status: 'completed' } });
    expect(store.get(t.id)?.status).toBe('completed');
    expect(store.isPending(t.id)).toBe(true);
    expect(store.confirmed(t.id)?.status).toBe('pending');
    store.rollback(op);
    expect(store.get(t.id)?.status).toBe('pending');
    expect(store.isPending(t.id)).toBe(false);
  });

  it('keeps live events that arrive during a pending change, and rolls back to them', () => {
    const store = new TaskStore();
    const t = task({ title: 'a' });
    store.merge([t]);
    const op = store.begin(t.id, { kind: 'patch', fields: { title: 'mine' } });
    store.applyEvent(event('updated', { ...t, title: 'theirs', priority: 'high', version: 2 }));
    expect(store.get(t.id)).toMatchObject({ title: 'mine', priority: 'high' });
    store.rollback(op);
    expect(store.get(t.id)).toMatchObject({ title: 'theirs', priority: 'high', version: 2 });
  });

  it('settles a change with the server’s answer, and a delete for good', () => {
    const store = new TaskStore();
    const a = task();
    const b = task();
    store.merge([a, b]);
    const done = store.begin(a.id, { kind: 'patch', fields: { status: 'completed' } });
    store.settle(done, { ...a, status: 'completed', version: 2 });
    expect(store.get(a.id)).toMatchObject({ status: 'completed', version: 2 });
    const gone = store.begin(b.id, { kind: 'delete' });
    expect(store.view().map((t) => t.id)).toEqual([a.id]);
    store.settle(gone, 'deleted');
    store.applyEvent(event('updated', { ...b, version: 7 }));
    expect(store.view().map((t) => t.id)).toEqual([a.id]);
  });

  it('filters and sorts what it shows like the server', () => {
    const store = new TaskStore();
    const soon = task({ due_date: '2026-02-01T00:00:00Z', priority: 'low' });
    const later = task({ due_date: '2026-03-01T00:00:00Z', priority: 'high' });
    const undated = task({ priority: 'high' });
    store.merge([undated, later, soon]);
    store.sort = 'due_date';
    store.notify();
    expect(store.view()).toEqual([soon, later, undated]);
    store.sort = '-due_date';
    store.notify();
    expect(store.view()).toEqual([undated, later, soon]);
    store.sort = 'priority';
    store.notify();
    expect(store.view().map((t) => t.priority)).toEqual(['high', 'high', 'low']);
    store.filters = { priority: 'high' };
    store.notify();
    expect(store.view()).not.toContain(soon);
  });

  it('drops a task from a status filter when it is completed', () => {
    const store = new TaskStore();
    const t = task();
    store.setQuery({ status: 'pending' }, '-created_at');
    store.merge([t]);
    store.begin(t.id, { kind: 'patch', fields: { status: 'completed' } });
    expect(store.view()).toEqual([]);
  });

  it('tells listeners about every change', () => {
    const store = new TaskStore();
    const calls: number[] = [];
    const off = store.subscribe(() => calls.push(1));
    store.merge([task()]);
    off();
    store.merge([task()]);
    expect(calls).toHaveLength(1);
  });
});

describe('filters', () => {
  it('match the API’s: substring search in title and description, due_after inclusive, due_before exclusive', () => {
    const t = task({
      title: 'Water the PLANTS',
      description: 'balcony',
      tags: ['home'],
      due_date: '2026-05-01T10:00:00Z',
    });
    expect(matchesFilters(t, { q: 'plants' })).toBe(true);
    expect(matchesFilters(t, { q: 'BALC' })).toBe(true);
    expect(matchesFilters(t, { q: 'cactus' })).toBe(false);
    expect(matchesFilters(t, { tag: 'home' })).toBe(true);
    expect(matchesFilters(t, { tag: 'hom' })).toBe(false);
    expect(matchesFilters(t, { due_after: '2026-05-01T10:00:00Z' })).toBe(true);
    expect(matchesFilters(t, { due_before: '2026-05-01T10:00:00Z' })).toBe(false);
    expect(matchesFilters({ ...t, due_date: null }, { due_after: '2020-01-01T00:00:00Z' })).toBe(false);
  });

  it('order equal keys by id in the direction of the sort', () => {
    const a = task({ id: '0190a000-0000-7000-8000-000000000001', title: 'same' });
    const b = task({ id: '0190a000-0000-7000-8000-000000000002', title: 'same' });
    expect([b, a].sort(compareTasks('title'))).toEqual([a, b]);
    expect([a, b].sort(compareTasks('-title'))).toEqual([b, a]);
  });
});
