import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading } from '../components/page.js';
import { ZoneSelect } from '../components/zone-select.js';
import { useApp } from '../context.js';
import { ApiError, errorMessage, isUnavailable } from '../lib/api.js';
import {
  RECURRENCE_KINDS,
  type RecurrenceForm,
  type RecurrenceKind,
  ruleOf,
  WEEKDAY_NAMES,
  WEEKDAYS,
  type Weekday,
} from '../lib/recurrence.js';
import {
  bodyOf,
  CHANNELS,
  changedFields,
  draftOf,
  draftProblems,
  dueOf,
  emptyDraft,
  newReminder,
  type ReminderDraft,
  type ReminderUnit,
  type TaskDraft,
} from '../lib/task-draft.js';
import { browserTimeZone, formatInZone, toZonedIso } from '../lib/time.js';
import { navigate } from '../routes.js';
import type { Channel, Priority, RecurrencePreviewBody, Task } from '../types.js';

export function TaskFormScreen({ taskId }: { taskId?: string }) {
  const { api } = useApp();
  const [task, setTask] = useState<Task | null | undefined>(taskId ? undefined : null);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    if (!taskId) return;
    const controller = new AbortController();
    api
      .request<Task>('GET', `/api/tasks/${encodeURIComponent(taskId)}`, { signal: controller.signal })
      .then(setTask)
      .catch((err) => {
        if (!controller.signal.aborted)
          setLoadError(
            err instanceof ApiError && err.status === 404
              ? 'This task does not exist (or was deleted).'
              : errorMessage(err),
          );
      });
    return () => controller.abort();
  }, [taskId]);

  if (loadError) {
    return (
      <section aria-labelledby="page-title">
        <PageHeading>Edit task</PageHeading>
        <p class="error" role="alert">
          {loadError}
        </p>
        <a href="#/tasks">Back to tasks</a>
      </section>
    );
  }
  if (task === undefined) {
    return (
      <section aria-labelledby="page-title">
        <PageHeading>Edit task</PageHeading>
        <p class="muted">Loading…</p>
      </section>
    );
  }
  return <TaskForm key={task?.id ?? 'new'} task={task} />;
}

function TaskForm({ task }: { task: Task | null }) {
  const { actions, toast } = useApp();
  const [draft, setDraft] = useState<TaskDraft>(() => (task ? draftOf(task) : emptyDraft(browserTimeZone())));
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const idempotencyKey = useMemo(() => crypto.randomUUID(), []);
  const errorRef = useRef<HTMLDivElement>(null);
  const editing = task !== null;

  const set = <K extends keyof TaskDraft>(key: K, value: TaskDraft[K]) =>
    setDraft((d) => ({ ...d, [key]: value }));
  const setRecurrence = (patch: Partial<RecurrenceForm>) =>
    setDraft((d) => ({ ...d, recurrence: { ...d.recurrence, ...patch } }));
  const setReminder = (index: number, patch: Partial<ReminderDraft>) =>
    setDraft((d) => ({ ...d, reminders: d.reminders.map((r, i) => (i === index ? { ...r, ...patch } : r)) }));

  function fail(list: string[]) {
    setProblems(list);
    requestAnimationFrame(() => errorRef.current?.focus());
  }

  async function submit(event: Event) {
    event.preventDefault();
    const found = draftProblems(draft);
    if (found.length > 0) return fail(found);
    let body: ReturnType<typeof bodyOf>;
    try {
      body = bodyOf(draft);
    } catch (err) {
      return fail([errorMessage(err)]);
    }
    if (task) {
      const fields = changedFields(task, body);
      if (Object.keys(fields).length > 0) void actions.update(task, fields, task.version);
      navigate('/tasks');
      return;
    }
    setBusy(true);
    try {
      await actions.create(body, idempotencyKey);
      toast(`Created “${body.title}”.`);
      navigate('/tasks');
    } catch (err) {
      fail([errorMessage(err)]);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="page-title">
      <PageHeading>{editing ? 'Edit task' : 'New task'}</PageHeading>
      <form class="task-form" onSubmit={submit} noValidate>
        {problems.length > 0 && (
          <div class="error-summary" role="alert" tabIndex={-1} ref={errorRef}>
            <p>The task could not be saved:</p>
            <ul>
              {problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </div>
        )}

        <Field id="task-title" label="Title">
          <input
            id="task-title"
            required
            maxLength={500}
            value={draft.title}
            onInput={(e) => set('title', e.currentTarget.value)}
          />
        </Field>
        <Field id="task-description" label="Description">
          <textarea
            id="task-description"
            rows={3}
            maxLength={10000}
            value={draft.description}
            onInput={(e) => set('description', e.currentTarget.value)}
          />
        </Field>
        <div class="row">
          <Field id="task-priority" label="Priority">
            <select
              id="task-priority"
              value={draft.priority}
              onChange={(e) => set('priority', e.currentTarget.value as Priority)}
            >
              <option value="high">High</option>
              <option value="medium">Medium</option>
              <option value="low">Low</option>
            </select>
          </Field>
          <Field id="task-tags" label="Tags" class="grow" hint="Separate tags with commas.">
            <input
              id="task-tags"
              aria-describedby="task-tags-hint"
              value={draft.tags}
              onInput={(e) => set('tags', e.currentTarget.value)}
            />
          </Field>
        </div>

        <fieldset>
          <legend>Due date</legend>
          <div class="row">
            <Field id="task-due" label="Date and time">
              <input
                id="task-due"
                type="datetime-local"
                value={draft.due}
                onInput={(e) => set('due', e.currentTarget.value)}
              />
            </Field>
            <Field id="task-zone" label="Time zone" class="grow">
              <ZoneSelect id="task-zone" value={draft.timeZone} onChange={(zone) => set('timeZone', zone)} />
            </Field>
            {draft.due && (
              <button type="button" class="link-button align-end" onClick={() => set('due', '')}>
                Clear due date
              </button>
            )}
          </div>
        </fieldset>

        <RecurrenceFields draft={draft} setRecurrence={setRecurrence} />

        <fieldset>
          <legend>Reminders</legend>
          {draft.reminders.length === 0 && <p class="muted">No reminders.</p>}
          <ol class="reminder-list">
            {draft.reminders.map((reminder, index) => (
              <ReminderFields
                key={index}
                index={index}
                reminder={reminder}
                timeZone={draft.timeZone}
                onChange={(patch) => setReminder(index, patch)}
                onRemove={() =>
                  setDraft((d) => ({ ...d, reminders: d.reminders.filter((_, i) => i !== index) }))
                }
              />
            ))}
          </ol>
          {draft.reminders.length < 10 && (
            <button
              type="button"
              class="secondary"
              onClick={() => setDraft((d) => ({ ...d, reminders: [...d.reminders, newReminder()] }))}
            >
              Add reminder
            </button>
          )}
        </fieldset>

        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {editing ? 'Save changes' : 'Create task'}
          </button>
          <a class="button" href="#/tasks">
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}

function RecurrenceFields({
  draft,
  setRecurrence,
}: {
  draft: TaskDraft;
  setRecurrence: (patch: Partial<RecurrenceForm>) => void;
}) {
  const r = draft.recurrence;
  return (
    <fieldset>
      <legend>Repeat</legend>
      <div class="row">
        <Field id="task-repeat" label="Repeats" class="grow">
          <select
            id="task-repeat"
            value={r.kind}
            onChange={(e) => setRecurrence({ kind: e.currentTarget.value as RecurrenceKind })}
          >
            {RECURRENCE_KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        </Field>
        {r.kind !== 'none' && (
          <Field id="task-anchor" label="Next one counts from">
            <select
              id="task-anchor"
              value={r.anchor}
              onChange={(e) => setRecurrence({ anchor: e.currentTarget.value as 'due' | 'completion' })}
            >
              <option value="due">the due date</option>
              <option value="completion">the completion</option>
            </select>
          </Field>
        )}
      </div>

      {r.kind === 'weekly-days' && (
        <fieldset class="inline">
          <legend>On</legend>
          {WEEKDAYS.map((day) => (
            <label key={day} class="check">
              <input
                type="checkbox"
                checked={r.days.includes(day)}
                onChange={(e) =>
                  setRecurrence({
                    days: e.currentTarget.checked ? [...r.days, day] : r.days.filter((d) => d !== day),
                  })
                }
              />
              {WEEKDAY_NAMES[day]}
            </label>
          ))}
        </fieldset>
      )}
      {r.kind === 'monthly-day' && (
        <Field id="task-month-day" label="Day of the month">
          <select
            id="task-month-day"
            value={String(r.monthDay)}
            onChange={(e) => setRecurrence({ monthDay: Number(e.currentTarget.value) })}
          >
            {Array.from({ length: 31 }, (_, i) => i + 1).map((d) => (
              <option key={d} value={String(d)}>
                {d}
              </option>
            ))}
            <option value="-1">Last day</option>
          </select>
        </Field>
      )}
      {r.kind === 'monthly-nth' && (
        <div class="row">
          <Field id="task-nth" label="Which">
            <select
              id="task-nth"
              value={String(r.nth)}
              onChange={(e) => setRecurrence({ nth: Number(e.currentTarget.value) })}
            >
              <option value="1">First</option>
              <option value="2">Second</option>
              <option value="3">Third</option>
              <option value="4">Fourth</option>
              <option value="-1">Last</option>
            </select>
          </Field>
          <Field id="task-nth-day" label="Weekday">
            <select
              id="task-nth-day"
              value={r.nthDay}
              onChange={(e) => setRecurrence({ nthDay: e.currentTarget.value as Weekday })}
            >
              {WEEKDAYS.map((d) => (
                <option key={d} value={d}>
                  {WEEKDAY_NAMES[d]}
                </option>
              ))}
            </select>
          </Field>
        </div>
      )}
      {r.kind === 'custom' && (
        <Field
          id="task-rule"
          label="Rule"
          hint={
            <>
              An RRULE such as <code>FREQ=MONTHLY;BYDAY=-1FR</code>, or cron such as{' '}
              <code>cron:0 9 * * 1-5</code>.
            </>
          }
        >
          <input
            id="task-rule"
            spellcheck={false}
            value={r.custom}
            aria-describedby="task-rule-hint"
            onInput={(e) => setRecurrence({ custom: e.currentTarget.value })}
          />
        </Field>
      )}
      {(r.kind === 'monthly' || r.kind === 'monthly-day' || r.kind === 'custom') && (
        <Field id="task-month-end" label="When a month has no such day">
          <select
            id="task-month-end"
            value={r.monthEnd}
            onChange={(e) => setRecurrence({ monthEnd: e.currentTarget.value as 'skip' | 'clamp' })}
          >
            <option value="skip">skip that month</option>
            <option value="clamp">use its last day</option>
          </select>
        </Field>
      )}
      {r.kind !== 'none' && <RecurrencePreview draft={draft} />}
    </fieldset>
  );
}

type PreviewState =
  | { status: 'idle' }
  | { status: 'loading' }
  | { status: 'ok'; occurrences: string[] }
  | { status: 'error'; message: string }
  | { status: 'unavailable' };

/** The next occurrences of the rule from the server, refreshed as the form changes. */
function RecurrencePreview({ draft }: { draft: TaskDraft }) {
  const { api } = useApp();
  const [state, setState] = useState<PreviewState>({ status: 'idle' });
  const rule = ruleOf(draft.recurrence);
  let start: string | null = null;
  try {
    start = toZonedIso(new Date(dueOf(draft) ?? Date.now()), draft.timeZone);
  } catch {
    start = null;
  }
  const request: RecurrencePreviewBody | null =
    rule && start
      ? {
          rule,
          start,
          time_zone: draft.timeZone,
          anchor: draft.recurrence.anchor,
          month_end: draft.recurrence.monthEnd,
          count: 5,
        }
      : null;
  const key = JSON.stringify(request);

  useEffect(() => {
    if (!request) return setState({ status: 'idle' });
    const controller = new AbortController();
    setState((s) => (s.status === 'ok' ? s : { status: 'loading' }));
    const timer = setTimeout(() => {
      api
        .request<{ occurrences: string[] }>('POST', '/api/recurrence/preview', {
          body: request,
          signal: controller.signal,
        })
        .then((res) => setState({ status: 'ok', occurrences: res.occurrences }))
        .catch((err) => {
          if (controller.signal.aborted) return;
          setState(
            isUnavailable(err) ? { status: 'unavailable' } : { status: 'error', message: errorMessage(err) },
          );
        });
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key]);

  return (
    <div class="preview" aria-live="polite" aria-busy={state.status === 'loading'}>
      <h2 class="small-heading" id="preview-heading">
        Next occurrences{draft.due ? '' : ' (from now: no due date set)'}
      </h2>
      {state.status === 'loading' && <p class="muted">Working them out…</p>}
      {state.status === 'error' && <p class="error">{state.message}</p>}
      {state.status === 'unavailable' && <p class="muted">The preview is not available.</p>}
      {state.status === 'ok' && (
        <ol aria-labelledby="preview-heading" class="occurrences">
          {state.occurrences.map((iso) => (
            <li key={iso} data-iso={iso}>
              <time dateTime={iso}>{formatInZone(iso, draft.timeZone)}</time>
            </li>
          ))}
          {state.occurrences.length === 0 && <li class="muted">No further occurrences.</li>}
        </ol>
      )}
    </div>
  );
}

function ReminderFields(props: {
  index: number;
  reminder: ReminderDraft;
  timeZone: string;
  onChange: (patch: Partial<ReminderDraft>) => void;
  onRemove: () => void;
}) {
  const { index, reminder, timeZone, onChange, onRemove } = props;
  const n = index + 1;
  const id = (name: string) => `reminder-${index}-${name}`;
  const toggleChannel = (channel: Channel, on: boolean) =>
    onChange({
      channels: on ? [...reminder.channels, channel] : reminder.channels.filter((c) => c !== channel),
    });
  return (
    <li class="reminder">
      <fieldset>
        <legend>Reminder {n}</legend>
        <div class="row">
          <Field id={id('kind')} label="When">
            <select
              id={id('kind')}
              value={reminder.kind}
              onChange={(e) => onChange({ kind: e.currentTarget.value as 'before' | 'at' })}
            >
              <option value="before">Before the due date</option>
              <option value="at">At a time</option>
            </select>
          </Field>
          {reminder.kind === 'before' ? (
            <>
              <Field id={id('amount')} label="How long before" class="narrow">
                <input
                  id={id('amount')}
                  type="number"
                  min={0}
                  step={1}
                  value={String(reminder.amount)}
                  onInput={(e) => onChange({ amount: e.currentTarget.valueAsNumber })}
                />
              </Field>
              <Field id={id('unit')} label="Unit">
                <select
                  id={id('unit')}
                  value={reminder.unit}
                  onChange={(e) => onChange({ unit: e.currentTarget.value as ReminderUnit })}
                >
                  <option value="minutes">minutes</option>
                  <option value="hours">hours</option>
                  <option value="days">days</option>
                </select>
              </Field>
            </>
          ) : (
            <Field id={id('at')} label={`Time (${timeZone.replace(/_/g, ' ')})`}>
              <input
                id={id('at')}
                type="datetime-local"
                step={1}
                value={reminder.at}
                onInput={(e) => onChange({ at: e.currentTarget.value })}
              />
            </Field>
          )}
        </div>
        <fieldset class="inline">
          <legend>Channels</legend>
          {CHANNELS.map((c) => (
            <label key={c.value} class="check">
              <input
                type="checkbox"
                checked={reminder.channels.includes(c.value)}
                onChange={(e) => toggleChannel(c.value, e.currentTarget.checked)}
              />
              {c.label}
            </label>
          ))}
        </fieldset>
        <button type="button" class="link-button danger" onClick={onRemove}>
          Remove reminder {n}
        </button>
      </fieldset>
    </li>
  );
}
