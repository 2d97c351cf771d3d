import { useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading, Unavailable } from '../components/page.js';
import { useApp } from '../context.js';
import { useResource } from '../hooks.js';
import { errorMessage, type Query, queryString } from '../lib/api.js';
import { formatInZone } from '../lib/time.js';
import type { AuditLog, AuditLogPage, AuditVerifyResult } from '../types.js';

const EVENT_TYPES = ['task.created', 'task.updated', 'task.completed', 'task.reopened', 'task.deleted'];

interface Filters {
  actor_email: string;
  user_id: string;
  task_id: string;
  event_type: string;
  start: string;
  end: string;
  q: string;
}

/** The filters typed in (the event type is a choice): who and which task first, then the rest. */
const TEXT_FILTERS: {
  key: Exclude<keyof Filters, 'event_type'>;
  label: string;
  type?: 'datetime-local' | 'search' | 'email';
}[] = [
  { key: 'actor_email', label: 'Actor email', type: 'email' },
  { key: 'user_id', label: 'User id' },
  { key: 'task_id', label: 'Task id' },
  { key: 'start', label: 'From', type: 'datetime-local' },
  { key: 'end', label: 'Until', type: 'datetime-local' },
  { key: 'q', label: 'Text', type: 'search' },
];

const emptyFilters: Filters = {
  actor_email: '',
  user_id: '',
  task_id: '',
  event_type: '',
  start: '',
  end: '',
  q: '',
};

/** `datetime-local` in the browser's zone → ISO instant. */
const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);

function queryOf(filters: Filters): Query {
  return {
    actor_email: filters.actor_email.trim() || undefined,
    user_id: filters.user_id.trim() || undefined,
    task_id: filters.task_id.trim() || undefined,
    event_type: filters.event_type || undefined,
    start_date: isoOf(filters.start),
    end_date: isoOf(filters.end),
    q: filters.q.trim() || undefined,
  };
}

function summary(changes: AuditLog['changes']): string {
  const show = (v: unknown) => {
    const text = v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v);
    return text.length > 40 ? `${text.slice(0, 39)}…` : text;
  };
  return Object.entries(changes ?? {})
    .map(([field, { before, after }]) => `${field}: ${show(before)} → ${show(after)}`)
    .join('; ');
}

export function AuditScreen() {
  const { api, toast } = useApp();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const [draft, setDraft] = useState<Filters>(emptyFilters);
  const [applied, setApplied] = useState<Filters>(emptyFilters);
  /** Cursors of the pages before the current one (paging back), and the current page's cursor. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [verify, setVerify] = useState<{ busy: boolean; result?: AuditVerifyResult; error?: string }>({
    busy: false,
  });
  const cursor = cursors[cursors.length - 1];

  const page = useResource(
    (signal) =>
      api.request<AuditLogPage>('GET', '/api/audit-logs', {
        signal,
        query: { ...queryOf(applied), cursor, limit: 50 },
      }),
    [applied, cursor],
  );

  const set = (key: keyof Filters, value: string) => setDraft((f) => ({ ...f, [key]: value }));
  const textFilter = ({ key, label, type }: (typeof TEXT_FILTERS)[number]) => (
    <Field key={key} id={`audit-${key}`} label={label}>
      <input
        id={`audit-${key}`}
        // Preact types each input type separately; the value is one of those above.
        type={(type ?? 'text') as 'text'}
        spellcheck={false}
        value={draft[key]}
        onInput={(e) => set(key, e.currentTarget.value)}
      />
    </Field>
  );

  function search(event: Event) {
    event.preventDefault();
    setApplied({ ...draft });
    // A new object each time: searching again with the same filters reloads.
    setCursors([undefined]);
  }

  async function download(event: Event, format: 'csv' | 'ndjson') {
    event.preventDefault();
    try {
      const blob = await api.blob('/api/audit-logs/export', { ...queryOf(applied), format });
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `audit-logs.${format}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      toast(`Export failed: ${errorMessage(err)}`, 'error');
    }
  }

  async function runVerify() {
    setVerify({ busy: true });
    try {
      const { start_date, end_date } = queryOf(applied);
      const result = await api.request<AuditVerifyResult>('GET', '/api/audit-logs/verify', {
        query: { start_date, end_date },
      });
      setVerify({ busy: false, result });
    } catch (err) {
      setVerify({ busy: false, error: errorMessage(err) });
    }
  }

  const exportHref = (format: string) =>
    `/api/audit-logs/export${queryString({ ...queryOf(applied), format })}`;

  return (
    <section aria-labelledby="page-title">
      <PageHeading>Audit log</PageHeading>
      {page.unavailable && !page.data ? (
        <Unavailable what="The audit log" />
      ) : (
        <>
          <form class="filters" onSubmit={search} aria-label="Filter audit rows">
            {TEXT_FILTERS.slice(0, 3).map(textFilter)}
            <Field id="audit-type" label="Event type">
              <select
                id="audit-type"
                value={draft.event_type}
                onChange={(e) => set('event_type', e.currentTarget.value)}
              >
                <option value="">Any</option>
                {EVENT_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </Field>
            {TEXT_FILTERS.slice(3).map(textFilter)}
            <button type="submit" class="primary align-end">
              Search
            </button>
          </form>

          <div class="toolbar">
            <a
              class="button"
              href={exportHref('csv')}
              download="audit-logs.csv"
              onClick={(e) => download(e, 'csv')}
            >
              Export CSV
            </a>
            <a
              class="button"
              href={exportHref('ndjson')}
              download="audit-logs.ndjson"
              onClick={(e) => download(e, 'ndjson')}
            >
              Export NDJSON
            </a>
            <button type="button" class="secondary" onClick={runVerify} disabled={verify.busy}>
              Verify hash chain
            </button>
            <p role="status" aria-live="polite" class="verify-result">
              {verify.busy && 'Checking…'}
              {verify.result &&
                (verify.result.ok ? (
                  <span class="ok">Chain intact: {verify.result.checked} rows checked.</span>
                ) : (
                  <span class="bad">
                    Chain broken at row {verify.result.first_broken} ({verify.result.checked} rows checked).
                  </span>
                ))}
              {verify.error && <span class="bad">Verify failed: {verify.error}</span>}
            </p>
          </div>

          {page.error && (
            <p class="error" role="alert">
              {page.error}
            </p>
          )}

          <div class="table-wrap">
            <table class="audit-table" aria-busy={page.loading}>
              <caption class="sr-only">Audit rows, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Action</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Changes</th>
                  <th scope="col">Hash</th>
                </tr>
              </thead>
              <tbody>
                {page.data?.items.map((row) => (
                  <tr
                    key={row.id}
                    data-audit-id={row.id}
                    data-task-id={row.task_id ?? undefined}
                    data-actor-id={row.actor ?? undefined}
                    data-action={row.action}
                  >
                    <td data-label="Time">
                      <time dateTime={row.time}>{formatInZone(row.time, zone)}</time>
                    </td>
                    <td data-label="Action">{row.action}</td>
                    <td data-label="Subject" class="subject">
                      {row.task_id ? (
                        <Named name={row.task_title} id={row.task_id} kind="task" />
                      ) : (
                        securitySubject(row) || '—'
                      )}
                    </td>
                    <td data-label="Actor" class="actor">
                      <Named name={row.actor_email} id={row.actor} kind="actor" />
                    </td>
                    <td data-label="Changes" class="changes">
                      {summary(row.changes) || '—'}
                    </td>
                    <td data-label="Hash">
                      <code title={row.hash}>{row.hash.slice(0, 10)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.data && page.data.items.length === 0 && <p class="empty">No audit rows match.</p>}
          <nav class="pager" aria-label="Audit pages">
            <button
              type="button"
              class="secondary"
              disabled={cursors.length <= 1}
              onClick={() => setCursors((c) => c.slice(0, -1))}
            >
              Newer
            </button>
            <span class="muted">Page {cursors.length}</span>
            <button
              type="button"
              class="secondary"
              disabled={!page.data?.next_cursor}
              onClick={() => page.data?.next_cursor && setCursors((c) => [...c, page.data!.next_cursor!])}
            >
              Older
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

/** What a security event was about: the account, the dead letter or the export. */
function securitySubject(row: AuditLog): string {
  const p = (row.payload ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  if (text(p.email)) return text(p.email);
  if (text(p.dead_letter_id)) return `dead letter ${text(p.dead_letter_id)}`;
  if (text(p.topic))
    return `${text(p.topic)}${p.replayed !== undefined ? ` (${text(p.replayed)} replayed)` : ''}`;
  if (text(p.format)) return `${text(p.format)} export`;
  return '';
}

/**
 * A task or actor by name, its full id on hover and a button that copies it (UUIDv7 ids begin
 * with their time, so no prefix tells two apart). Without a known name the id is the name.
 * Security events may have no actor.
 */
function Named({ name, id, kind }: { name: string | null; id: string | null; kind: 'task' | 'actor' }) {
  const { toast } = useApp();
  if (!id) return <span>—</span>;
  // No clipboard API outside secure contexts (a plain-http address other than localhost).
  const copy = () =>
    (navigator.clipboard
      ? navigator.clipboard.writeText(id)
      : Promise.reject(new Error('no clipboard'))
    ).then(
      () => toast(`Copied the ${kind} id ${id}.`),
      () => toast(`Could not copy; the ${kind} id is ${id}.`, 'error'),
    );
  return (
    <span class="named">
      {name ? (
        <span class="name" title={id}>
          {name}
        </span>
      ) : (
        <code class="full-id">{id}</code>
      )}{' '}
      <button
        type="button"
        class="link-button copy-id"
        // Not "… task id": that is the filter field's name.
        title={`Copy the ${kind}'s id`}
        aria-label={`Copy the ${kind}'s id, ${id}`}
        onClick={copy}
      >
        Copy id
      </button>
    </span>
  );
}
