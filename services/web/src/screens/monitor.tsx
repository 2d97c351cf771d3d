import { useEffect, useRef, useState } from 'preact/hooks';
import { LineChart } from '../components/chart.js';
import { Field } from '../components/field.js';
import { PageHeading, Unavailable } from '../components/page.js';
import { useApp } from '../context.js';
import { usePolling, useResource } from '../hooks.js';
import { ApiError, errorMessage } from '../lib/api.js';
import { pushSample, seriesOf } from '../lib/chart.js';
import { formatInZone } from '../lib/time.js';
import type { AdminStats, DeadLetter, DeadLetterPage } from '../types.js';

/** One minute of one-second samples. */
const CAPACITY = 60;
const POLL_MS = 1000;

/**
 * Rates are averaged over the stats window (a minute), so a single event reads 0.017/s: below 1
 * keep two significant digits, or a quiet but live topic would show as 0.0.
 */
function formatRate(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return value < 1 ? value.toPrecision(2) : value.toFixed(1);
}

export function MonitorScreen() {
  const { api, toast } = useApp();
  const [samples, setSamples] = useState<AdminStats[]>([]);
  const [statsState, setStatsState] = useState<{ unavailable: boolean; error: string | null; at?: number }>({
    unavailable: false,
    error: null,
  });
  const [paused, setPaused] = useState(false);
  // Dead letters (by id) and topics (`topic:<name>`) with a request under way.
  const [busy, setBusy] = useState<Set<string>>(new Set());
  const [discarding, setDiscarding] = useState<DeadLetter | null>(null);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const dlq = useResource(
    (signal) =>
      api.request<DeadLetterPage>('GET', '/api/admin/dlq', {
        signal,
        query: { status: 'pending', limit: 50 },
      }),
    [],
  );

  usePolling(
    async () => {
      try {
        const stats = await api.request<AdminStats>('GET', '/api/admin/stats');
        setSamples((s) => pushSample(s, stats, CAPACITY));
        setStatsState({ unavailable: false, error: null, at: Date.now() });
      } catch (err) {
        const forbidden = err instanceof ApiError && err.status === 403;
        setStatsState((s) => ({
          ...s,
          unavailable: err instanceof ApiError && err.status === 404,
          error: forbidden ? 'Admins only.' : errorMessage(err),
        }));
      }
    },
    POLL_MS,
    !paused && !statsState.unavailable,
  );

  // The dead-letter list follows the size the stats report.
  const latest = samples[samples.length - 1];
  const lastSize = useRef<number | undefined>(undefined);
  useEffect(() => {
    if (latest && lastSize.current !== undefined && latest.dlq_size !== lastSize.current && !dlq.unavailable)
      void dlq.reload();
    if (latest) lastSize.current = latest.dlq_size;
  }, [latest?.dlq_size]);

  /** Runs one dead-letter action with `key` marked busy, then reloads the list. */
  async function act(key: string, work: () => Promise<string>, failure: string) {
    setBusy((s) => new Set(s).add(key));
    try {
      toast(await work());
      await dlq.reload();
    } catch (err) {
      toast(`${failure}: ${errorMessage(err)}`, 'error');
    } finally {
      setBusy((s) => {
        const next = new Set(s);
        next.delete(key);
        return next;
      });
    }
  }

  const replay = (letter: DeadLetter) =>
    act(
      letter.id,
      async () => {
        await api.request('POST', `/api/admin/dlq/${encodeURIComponent(letter.id)}/replay`);
        return `Replayed the dead letter from ${letter.topic} (${letter.consumer}).`;
      },
      'Replay failed',
    );

  const replayAll = (topic: string) =>
    act(
      `topic:${topic}`,
      async () => {
        const { replayed } = await api.request<{ replayed: number }>('POST', '/api/admin/dlq/replay', {
          query: { topic },
        });
        return `Replayed ${replayed} dead letter${replayed === 1 ? '' : 's'} from ${topic}.`;
      },
      'Replay failed',
    );

  const discard = (letter: DeadLetter, reason: string) =>
    act(
      letter.id,
      async () => {
        await api.request('POST', `/api/admin/dlq/${encodeURIComponent(letter.id)}/discard`, {
          body: { reason },
        });
        return `Discarded the dead letter from ${letter.topic} (${letter.consumer}).`;
      },
      'Discard failed',
    );

  // Replay-all acts on every pending dead letter of a topic, listed here or not.
  const pendingTopics = [...new Set((dlq.data?.items ?? []).map((l) => l.topic))].sort();

  const topics = seriesOf(samples, (s) =>
    Object.fromEntries(Object.entries(s.topics ?? {}).map(([k, v]) => [k, v.events_per_second])),
  );
  const lag = seriesOf(samples, (s) =>
    Object.fromEntries(Object.entries(s.consumers ?? {}).map(([k, v]) => [k, v.lag])),
  );
  const backlog = seriesOf(samples, (s) => ({
    'dead letters': s.dlq_size,
    'outbox backlog': s.outbox_backlog,
  }));

  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <PageHeading>Event monitor</PageHeading>
        {!statsState.unavailable && (
          <button type="button" class="secondary" aria-pressed={paused} onClick={() => setPaused((p) => !p)}>
            {paused ? 'Resume live updates' : 'Pause live updates'}
          </button>
        )}
      </div>
      {statsState.unavailable ? (
        <Unavailable what="Live statistics" />
      ) : (
        <>
          <p class="muted" aria-live="off">
            {paused ? 'Paused.' : 'Updated every second.'}
            {statsState.error && <span class="bad"> Last update failed: {statsState.error}</span>}
          </p>
          {latest && (
            <dl class="stat-tiles">
              <div>
                <dt>Events per second (all topics)</dt>
                <dd data-stat="eps">
                  {formatRate(
                    Object.values(latest.topics ?? {}).reduce((a, t) => a + t.events_per_second, 0),
                  )}
                </dd>
              </div>
              <div>
                <dt>Largest consumer lag</dt>
                <dd data-stat="lag">
                  {Math.max(0, ...Object.values(latest.consumers ?? {}).map((c) => c.lag))}
                </dd>
              </div>
              <div>
                <dt>Dead letters</dt>
                <dd data-stat="dlq">{latest.dlq_size}</dd>
              </div>
              <div>
                <dt>Outbox backlog</dt>
                <dd data-stat="outbox">{latest.outbox_backlog}</dd>
              </div>
            </dl>
          )}
          <div class="charts">
            <LineChart
              id="eps"
              title="Events per second by topic"
              unit="events/s"
              series={topics}
              capacity={CAPACITY}
              format={formatRate}
            />
            <LineChart
              id="lag"
              title="Consumer lag"
              unit="events"
              series={lag}
              capacity={CAPACITY}
              format={(v) => String(Math.round(v))}
            />
            <LineChart
              id="dlq"
              title="Dead letters and outbox backlog"
              unit="events"
              series={backlog}
              capacity={CAPACITY}
              format={(v) => String(Math.round(v))}
            />
          </div>
        </>
      )}

      <div class="page-head">
        <h2>Dead letters</h2>
        {!dlq.unavailable && (
          <button type="button" class="secondary" onClick={() => dlq.reload()}>
            Refresh
          </button>
        )}
      </div>
      {dlq.unavailable && <Unavailable what="The dead-letter queue" />}
      {dlq.error && !dlq.unavailable && (
        <p class="error" role="alert">
          {dlq.error}
        </p>
      )}
      {dlq.data && dlq.data.items.length === 0 && <p class="empty">No dead letters waiting.</p>}
      {pendingTopics.length > 0 && (
        <fieldset class="dlq-actions">
          <legend class="sr-only">Replay every pending dead letter of a topic</legend>
          {pendingTopics.map((topic) => (
            <button
              key={topic}
              type="button"
              class="secondary small"
              disabled={busy.has(`topic:${topic}`)}
              onClick={() => replayAll(topic)}
            >
              {busy.has(`topic:${topic}`) ? `Replaying ${topic}…` : `Replay all from ${topic}`}
            </button>
          ))}
        </fieldset>
      )}
      {discarding && (
        <DiscardForm
          letter={discarding}
          onCancel={() => setDiscarding(null)}
          onDiscard={(reason) => {
            setDiscarding(null);
            void discard(discarding, reason);
          }}
        />
      )}
      {dlq.data && dlq.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="dlq-table">
            <caption class="sr-only">Dead letters waiting for replay</caption>
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col">Consumer</th>
                <th scope="col">Reason</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last failed</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {dlq.data.items.map((letter) => (
                <tr key={letter.id} data-dead-letter-id={letter.id}>
                  <td data-label="Topic">{letter.topic}</td>
                  <td data-label="Consumer">{letter.consumer}</td>
                  <td data-label="Reason" class="changes">
                    {letter.reason}
                  </td>
                  <td data-label="Attempts">{letter.attempts}</td>
                  <td data-label="Last failed">
                    <time dateTime={letter.last_failed_at}>{formatInZone(letter.last_failed_at, zone)}</time>
                  </td>
                  <td class="row-actions">
                    <button
                      type="button"
                      class="small"
                      disabled={busy.has(letter.id)}
                      onClick={() => replay(letter)}
                      aria-label={`Replay dead letter from ${letter.topic} for ${letter.consumer}`}
                    >
                      {busy.has(letter.id) ? 'Working…' : 'Replay'}
                    </button>
                    <button
                      type="button"
                      class="small danger"
                      disabled={busy.has(letter.id)}
                      onClick={() => setDiscarding(letter)}
                      aria-label={`Discard dead letter from ${letter.topic} for ${letter.consumer}`}
                    >
                      Discard
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/**
 * Asks why before a discard: the reason is kept with the dead letter (who and when too), so it
 * must not be empty. A modal dialog, so focus stays in it until it is answered.
 */
function DiscardForm({
  letter,
  onCancel,
  onDiscard,
}: {
  letter: DeadLetter;
  onCancel(): void;
  onDiscard(reason: string): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="discard-dialog" aria-labelledby="discard-title" onCancel={onCancel}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (reason.trim()) onDiscard(reason.trim());
        }}
      >
        <h3 id="discard-title">
          Discard the dead letter from {letter.topic} ({letter.consumer})
        </h3>
        <p class="muted">It stays listed as discarded, with your reason, your name and the time.</p>
        <Field id="discard-reason" label="Reason for discarding">
          <textarea
            id="discard-reason"
            required
            maxLength={1000}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        </Field>
        <div class="dlq-actions">
          <button type="submit" class="primary" disabled={!reason.trim()}>
            Discard
          </button>
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}
