import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading } from '../components/page.js';
import { useApp } from '../context.js';
import { useStore } from '../hooks.js';
import { describeRule } from '../lib/recurrence.js';
import type { TaskFilters } from '../lib/tasks.js';
import { formatInZone, relativeTime } from '../lib/time.js';
import type { Priority, Task, TaskSort, TaskStatus } from '../types.js';

const SORTS: { value: TaskSort; label: string }[] = [
  { value: '-created_at', label: 'Newest first' },
  { value: 'created_at', label: 'Oldest first' },
  { value: 'due_date', label: 'Due date, soonest first' },
  { value: '-due_date', label: 'Due date, latest first' },
  { value: 'priority', label: 'Priority, high first' },
  { value: '-priority', label: 'Priority, low first' },
  { value: 'title', label: 'Title, A–Z' },
  { value: '-title', label: 'Title, Z–A' },
  { value: '-updated_at', label: 'Recently changed' },
];

/** `<input type=date>` value → the instant the local day starts (plus `days`). */
function dayStart(value: string, days = 0): string | undefined {
  if (!value) return undefined;
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y!, m! - 1, d! + days).toISOString();
}

function dayValue(iso: string | undefined, days = 0): string {
  if (!iso) return '';
  const date = new Date(iso);
  date.setDate(date.getDate() + days);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function TasksScreen() {
  const { store, actions } = useApp();
  useStore(store);
  const [q, setQ] = useState(store.filters.q ?? '');
  const [tag, setTag] = useState(store.filters.tag ?? '');
  const debounce = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    if (!store.loaded && !store.loading) void actions.load();
  }, []);

  function apply(filters: TaskFilters, sort: TaskSort = store.sort) {
    const cleaned = Object.fromEntries(
      Object.entries(filters).filter(([, v]) => v !== undefined && v !== ''),
    ) as TaskFilters;
    store.setQuery(cleaned, sort);
    void actions.load();
  }

  function applyText(next: { q?: string; tag?: string }) {
    if (debounce.current) clearTimeout(debounce.current);
    debounce.current = setTimeout(() => apply({ ...store.filters, ...next }), 300);
  }

  useEffect(() => () => debounce.current && clearTimeout(debounce.current), []);

  const tasks = store.view();
  const knownTags = useMemo(() => [...new Set(tasks.flatMap((t) => t.tags))].sort(), [tasks]);
  const filtered = Object.keys(store.filters).length > 0;

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <PageHeading>Tasks</PageHeading>
        <a class="button primary" href="#/tasks/new">
          New task
        </a>
      </div>

      <form class="filters" aria-label="Filter and sort tasks" onSubmit={(e) => e.preventDefault()}>
        <Field id="filter-q" label="Search">
          <input
            id="filter-q"
            type="search"
            value={q}
            placeholder="Title or description"
            onInput={(e) => {
              setQ(e.currentTarget.value);
              applyText({ q: e.currentTarget.value.trim() || undefined });
            }}
          />
        </Field>
        <Field id="filter-status" label="Status">
          <select
            id="filter-status"
            value={store.filters.status ?? ''}
            onChange={(e) =>
              apply({
                ...store.filters,
                status: (e.currentTarget.value || undefined) as TaskStatus | undefined,
              })
            }
          >
            <option value="">All</option>
            <option value="pending">Open</option>
            <option value="completed">Completed</option>
          </select>
        </Field>
        <Field id="filter-priority" label="Priority">
          <select
            id="filter-priority"
            value={store.filters.priority ?? ''}
            onChange={(e) =>
              apply({
                ...store.filters,
                priority: (e.currentTarget.value || undefined) as Priority | undefined,
              })
            }
          >
            <option value="">Any</option>
            <option value="high">High</option>
            <option value="medium">Medium</option>
            <option value="low">Low</option>
          </select>
        </Field>
        <Field id="filter-tag" label="Tag">
          <input
            id="filter-tag"
            list="known-tags"
            value={tag}
            onInput={(e) => {
              setTag(e.currentTarget.value);
              applyText({ tag: e.currentTarget.value.trim() || undefined });
            }}
          />
          <datalist id="known-tags">
            {knownTags.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </Field>
        <Field id="filter-due-after" label="Due from">
          <input
            id="filter-due-after"
            type="date"
            value={dayValue(store.filters.due_after)}
            onChange={(e) => apply({ ...store.filters, due_after: dayStart(e.currentTarget.value) })}
          />
        </Field>
        <Field id="filter-due-before" label="Due until">
          <input
            id="filter-due-before"
            type="date"
            value={dayValue(store.filters.due_before, -1)}
            onChange={(e) => apply({ ...store.filters, due_before: dayStart(e.currentTarget.value, 1) })}
          />
        </Field>
        <Field id="sort" label="Sort">
          <select
            id="sort"
            value={store.sort}
            onChange={(e) => apply(store.filters, e.currentTarget.value as TaskSort)}
          >
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </Field>
        {filtered && (
          <button
            type="button"
            class="link-button"
            onClick={() => {
              setQ('');
              setTag('');
              apply({});
            }}
          >
            Clear filters
          </button>
        )}
      </form>

      {store.error && (
        <p class="error" role="alert">
          Could not load tasks: {store.error}{' '}
          <button type="button" class="link-button" onClick={() => actions.load()}>
            Try again
          </button>
        </p>
      )}

      <p class="sr-only" aria-live="polite">
        {store.loaded ? `${tasks.length} task${tasks.length === 1 ? '' : 's'} shown` : ''}
      </p>

      {store.loaded && tasks.length === 0 && !store.error && (
        <p class="empty">
          {filtered ? 'No tasks match these filters.' : 'No tasks yet. Create one to get started.'}
        </p>
      )}

      <ul class="task-list" aria-label="Tasks" aria-busy={store.loading}>
        {tasks.map((task) => (
          <TaskItem key={task.id} task={task} pending={store.isPending(task.id)} />
        ))}
      </ul>

      {store.loading && <p class="muted">Loading…</p>}
      {store.nextCursor && !store.loading && (
        <button type="button" class="secondary" onClick={() => actions.load(true)}>
          Load more
        </button>
      )}
    </section>
  );
}

function TaskItem({ task, pending }: { task: Task; pending: boolean }) {
  const { actions } = useApp();
  const done = task.status === 'completed';
  const titleId = `task-title-${task.id}`;
  return (
    <li
      class={`task${done ? ' done' : ''}`}
      data-task-id={task.id}
      data-status={task.status}
      data-occurrence={task.occurrence}
      data-due={task.due_date ?? ''}
      aria-busy={pending}
    >
      <input
        type="checkbox"
        class="task-check"
        checked={done}
        aria-label={`Done: ${task.title}`}
        onChange={() => (done ? actions.reopen(task) : actions.complete(task))}
      />
      <div class="task-main">
        <a id={titleId} class="task-title" href={`#/tasks/${task.id}`}>
          {task.title}
        </a>
        <p class="task-meta">
          <span class={`badge priority-${task.priority}`}>{task.priority}</span>
          {task.due_date && (
            <span class="due">
              Due <time dateTime={task.due_date}>{formatInZone(task.due_date, task.time_zone)}</time>
              <span class="muted"> ({relativeTime(task.due_date)})</span>
            </span>
          )}
          {task.recurrence && (
            <span class="recurs" title={task.recurrence.rule}>
              <span aria-hidden="true">↻ </span>
              {describeRule(task.recurrence.rule)}
              {task.occurrence > 1 && <span class="muted"> · occurrence {task.occurrence}</span>}
            </span>
          )}
          {task.reminders.length > 0 && (
            <span class="reminders">
              <BellIcon />
              {task.reminders.length} reminder{task.reminders.length === 1 ? '' : 's'}
            </span>
          )}
          {done && task.completed_at && (
            <span class="muted">Completed {relativeTime(task.completed_at)}</span>
          )}
          {pending && <span class="muted">Saving…</span>}
        </p>
        {task.tags.length > 0 && (
          <ul class="tags" aria-label="Tags">
            {task.tags.map((t) => (
              <li key={t} class="tag">
                {t}
              </li>
            ))}
          </ul>
        )}
        {task.description && <p class="task-desc">{task.description}</p>}
      </div>
      <div class="task-actions">
        <a class="button small" href={`#/tasks/${task.id}`} aria-describedby={titleId}>
          Edit
        </a>
        <button
          type="button"
          class="small danger"
          aria-describedby={titleId}
          onClick={() => actions.remove(task)}
        >
          Delete
        </button>
      </div>
    </li>
  );
}

function BellIcon() {
  return (
    <svg class="icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path
        d="M8 1.5a4.5 4.5 0 0 0-4.5 4.5v3L2 11.5h12L12.5 9V6A4.5 4.5 0 0 0 8 1.5ZM6.2 13a1.9 1.9 0 0 0 3.6 0Z"
        fill="currentColor"
      />
    </svg>
  );
}
