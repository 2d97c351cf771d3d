import { useEffect, useRef, useState } from 'preact/hooks';
import { LineChart } from '../components/chart.js';
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
  const [replaying, setReplaying] = useState<Set<string>>(new Set());
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

  async function replay(letter: DeadLetter) {
    setReplaying((s) => new Set(s).add(letter.id));
    try {
      await api.request('POST', `/api/admin/dlq/${encodeURIComponent(letter.id)}/replay`);
      toast(`Replayed the dead letter from ${letter.topic} (${letter.consumer}).`);
      await dlq.reload();
    } catch (err) {
      toast(`Replay failed: ${errorMessage(err)}`, 'error');
    } finally {
      setReplaying((s) => {
        const next = new Set(s);
        next.delete(letter.id);
        return next;
      });
    }
  }

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
                  <span class="sr-only">Action</span>
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
                  <td>
                    <button
                      type="button"
                      class="small"
                      disabled={replaying.has(letter.id)}
                      onClick={() => replay(letter)}
                      aria-label={`Replay dead letter from ${letter.topic} for ${letter.consumer}`}
                    >
                      {replaying.has(letter.id) ? 'Replaying…' : 'Replay'}
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
