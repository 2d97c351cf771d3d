import { useEffect, useRef, useState } from 'preact/hooks';
import { LineChart } from '../components/chart.js';
import { Field } from '../components/field.js';
import { PageHeading, Unavailable } from '../components/page.js';
import { StatusFilter, TransactionTable } from '../components/transactions.js';
import { useApp } from '../context.js';
import { usePolling } from '../hooks.js';
import { ApiError, errorMessage } from '../lib/api.js';
import { pushSample, seriesOf } from '../lib/chart.js';
import { LIVE_STATE_TEXT, LiveConnection, type LiveState } from '../lib/live.js';
import { ratesByStatus, scoreHistogram, upsertTransaction } from '../lib/payments.js';
import type { Transaction, TransactionPage } from '../types.js';

/** A minute of one-second samples, as on the monitor. */
const CAPACITY = 60;
const POLL_MS = 1000;
/** Rates are averaged over a few seconds: one poll's second alone jumps between 0 and a burst. */
const RATE_WINDOW_MS = 5000;
/** The newest transactions the rates and the score distribution are read from. */
const RECENT = 200;
/** With the live tracker connected the REST list only reconciles, now and then. */
const RECONCILE_MS = 10_000;
/** The payments tracker (WS /ws/transactions, SSE fallback); it keeps no REST history to start from. */
const TRACKER = { ws: '/ws/transactions', sse: '/api/transactions/stream', history: null };

interface Filters {
  status: string;
  kind: string;
  wallet_id: string;
}

const matches = (t: Transaction, f: Filters) =>
  (!f.status || t.status === f.status) &&
  (!f.kind || t.kind === f.kind) &&
  (!f.wallet_id.trim() || t.from_wallet_id === f.wallet_id.trim() || t.to_wallet_id === f.wallet_id.trim());

/**
 * The admins' live view of payments: rates by status, where fraud scores fall, the held payments
 * to decide, and the latest transactions. Transactions arrive live from the payments tracker;
 * the REST list loads the past and reconciles (each second while the tracker is not connected).
 */
export function PaymentsScreen() {
  const { api, toast, session } = useApp();
  const [live, setLive] = useState<LiveState>('connecting');
  const [filters, setFilters] = useState<Filters>({ status: '', kind: '', wallet_id: '' });
  const [recent, setRecent] = useState<Transaction[]>([]);
  const [held, setHeld] = useState<Transaction[]>([]);
  const [samples, setSamples] = useState<Record<string, number>[]>([]);
  const [state, setState] = useState<{ unavailable: boolean; error: string | null }>({
    unavailable: false,
    error: null,
  });
  const [paused, setPaused] = useState(false);
  const [busy, setBusy] = useState<Set<string>>(new Set());

  async function refresh() {
    try {
      const [latest, waiting] = await Promise.all([
        api.request<TransactionPage>('GET', '/api/transactions', {
          query: {
            limit: RECENT,
            status: filters.status || undefined,
            kind: filters.kind || undefined,
            wallet_id: filters.wallet_id.trim() || undefined,
          },
        }),
        api.request<TransactionPage>('GET', '/api/transactions', { query: { status: 'held', limit: 50 } }),
      ]);
      setRecent(latest.items);
      setHeld(waiting.items);
      if (live !== 'connected')
        setSamples((s) => pushSample(s, ratesByStatus(latest.items, Date.now(), RATE_WINDOW_MS), CAPACITY));
      setState({ unavailable: false, error: null });
    } catch (err) {
      setState({
        unavailable: err instanceof ApiError && err.status === 404,
        error: err instanceof ApiError && err.status === 403 ? 'Admins only.' : errorMessage(err),
      });
    }
  }
  usePolling(refresh, live === 'connected' ? RECONCILE_MS : POLL_MS, !paused && !state.unavailable);

  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const recentRef = useRef(recent);
  recentRef.current = recent;
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  useEffect(() => {
    const connection = new LiveConnection({
      api,
      baseUrl: window.location.origin,
      stream: TRACKER,
      token: () => session.token,
      onEvent: (event) => {
        if (pausedRef.current) return;
        const t = (event.data as unknown as { transaction?: Transaction }).transaction;
        if (!t) return;
        if (matches(t, filtersRef.current)) setRecent((list) => upsertTransaction(list, t, RECENT));
        setHeld((list) =>
          t.status === 'held' ? upsertTransaction(list, t, 50) : list.filter((h) => h.id !== t.id),
        );
      },
      // Missed more than the tracker keeps: the REST list is the truth.
      onResync: () => void refreshRef.current(),
      onState: (next) => setLive(next),
    });
    void connection.start();
    return () => connection.stop();
  }, []);
  // With live events the chart samples the list each second rather than per fetch.
  useEffect(() => {
    if (live !== 'connected' || paused) return;
    const timer = setInterval(
      () =>
        setSamples((s) =>
          pushSample(s, ratesByStatus(recentRef.current, Date.now(), RATE_WINDOW_MS), CAPACITY),
        ),
      POLL_MS,
    );
    return () => clearInterval(timer);
  }, [live, paused]);

  async function decide(t: Transaction, action: 'release' | 'fail') {
    setBusy((b) => new Set(b).add(t.id));
    try {
      await api.request('POST', `/api/transactions/${t.id}/${action}`, action === 'fail' ? { body: {} } : {});
      toast(action === 'release' ? 'Payment released.' : 'Payment failed as fraud suspected.');
      await refresh();
    } catch (err) {
      toast(`Could not ${action} the payment: ${errorMessage(err)}`, 'error');
    } finally {
      setBusy((b) => {
        const next = new Set(b);
        next.delete(t.id);
        return next;
      });
    }
  }

  if (state.unavailable) return <Unavailable what="Payments" error={state.error} />;
  const histogram = scoreHistogram(recent);
  const top = Math.max(1, ...histogram);
  const setFilter = (key: keyof Filters) => (e: Event) =>
    setFilters((f) => ({ ...f, [key]: (e.currentTarget as HTMLInputElement).value }));

  return (
    <section aria-labelledby="page-title" class="payments-dashboard">
      <PageHeading>Payments</PageHeading>
      <div class="monitor-controls">
        <button type="button" class="secondary" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <span class="muted" data-live={live}>
          {live === 'connected' ? 'Live' : `${LIVE_STATE_TEXT[live]}; refreshing each second`}
        </span>
        {state.error && <span role="alert">{state.error}</span>}
      </div>
      <fieldset class="filters">
        <legend>Filter</legend>
        <StatusFilter id="payments-status" value={filters.status} onChange={setFilter('status')} />
        <Field id="payments-kind" label="Kind">
          <select id="payments-kind" value={filters.kind} onChange={setFilter('kind')}>
            <option value="">Any kind</option>
            <option value="transfer">transfer</option>
            <option value="withdrawal">withdrawal</option>
            <option value="deposit">deposit</option>
          </select>
        </Field>
        <Field id="payments-wallet" label="Wallet id">
          <input id="payments-wallet" value={filters.wallet_id} onChange={setFilter('wallet_id')} />
        </Field>
      </fieldset>
      <LineChart
        id="payments-rate"
        title="Transactions per second by status"
        unit="per second"
        series={seriesOf(samples, (s) => s)}
        capacity={CAPACITY}
      />
      <figure class="score-histogram" aria-labelledby="score-caption">
        <figcaption id="score-caption">Fraud scores of the latest {recent.length} transactions</figcaption>
        <table>
          <thead>
            <tr>
              <th scope="col">Score</th>
              <th scope="col">Transactions</th>
            </tr>
          </thead>
          <tbody>
            {histogram.map((count, i) => (
              <tr key={i}>
                <th scope="row">
                  {(i / 10).toFixed(1)}–{((i + 1) / 10).toFixed(1)}
                </th>
                <td>
                  <span class="bar" style={{ width: `${(count / top) * 100}%` }} aria-hidden="true" /> {count}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </figure>

      <h2>Held payments</h2>
      {held.length === 0 ? (
        <p class="muted">No payment is held.</p>
      ) : (
        <TransactionTable
          items={held}
          caption="Held payments waiting for a decision"
          actions={(t) => (
            <>
              <button
                type="button"
                class="small"
                disabled={busy.has(t.id)}
                onClick={() => void decide(t, 'release')}
                aria-label={`Release payment ${t.id}`}
              >
                Release
              </button>
              <button
                type="button"
                class="small danger"
                disabled={busy.has(t.id)}
                onClick={() => void decide(t, 'fail')}
                aria-label={`Fail payment ${t.id}`}
              >
                Fail
              </button>
            </>
          )}
        />
      )}

      <h2>Latest transactions</h2>
      {recent.length === 0 ? (
        <p class="muted">No transactions match.</p>
      ) : (
        <TransactionTable items={recent.slice(0, 50)} caption="Latest transactions" />
      )}
    </section>
  );
}
