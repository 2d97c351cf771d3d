import { useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading, Unavailable } from '../components/page.js';
import { StatusFilter, TransactionTable } from '../components/transactions.js';
import { useApp } from '../context.js';
import { usePolling, useResource } from '../hooks.js';
import { errorMessage } from '../lib/api.js';
import { formatMoney, parseAmount } from '../lib/money.js';
import type { Transaction, TransactionPage, Wallet, WalletPage } from '../types.js';

/** Balances move when fraud scoring settles a transfer, a moment after it is made: refresh while the screen is open. */
const REFRESH_MS = 2000;
const PAGE = 20;

interface HistoryFilters {
  wallet_id: string;
  status: string;
  created_after: string;
  created_before: string;
}

/** `datetime-local` text (the browser's zone) into the ISO instant the API takes. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function WalletsScreen() {
  const { api, session } = useApp();
  const wallets = useResource((signal) => api.request<WalletPage>('GET', '/api/wallets', { signal }), []);
  const [filters, setFilters] = useState<HistoryFilters>({
    wallet_id: '',
    status: '',
    created_after: '',
    created_before: '',
  });
  const [history, setHistory] = useState<{ items: Transaction[]; next: string | null; error: string | null }>(
    {
      items: [],
      next: null,
      error: null,
    },
  );

  const query = (cursor?: string) => ({
    wallet_id: filters.wallet_id || undefined,
    status: filters.status || undefined,
    created_after: toIso(filters.created_after),
    created_before: toIso(filters.created_before),
    limit: PAGE,
    cursor,
  });
  async function loadHistory(more = false) {
    try {
      const page = await api.request<TransactionPage>('GET', '/api/transactions', {
        query: query(more ? (history.next ?? undefined) : undefined),
      });
      setHistory((h) => ({
        items: more
          ? [...h.items, ...page.items.filter((t) => !h.items.some((o) => o.id === t.id))]
          : page.items,
        next: page.next_cursor,
        error: null,
      }));
    } catch (err) {
      setHistory((h) => ({ ...h, error: errorMessage(err) }));
    }
  }

  // The first page follows the filters and the server; pages loaded beyond it stay until the filters change.
  usePolling(
    async () => {
      await wallets.reload();
      if (history.items.length <= PAGE) await loadHistory();
    },
    REFRESH_MS,
    !wallets.unavailable,
  );

  if (wallets.unavailable) return <Unavailable what="Payments" error={wallets.error} />;
  // An admin's list holds everyone's wallets: this screen is about the viewer's own.
  const own = (wallets.data?.items ?? []).filter((w) => w.user_id === session.userId);
  const nameOf = (id: string) => own.find((w) => w.id === id)?.name;
  const setFilter = (key: keyof HistoryFilters) => (e: Event) => {
    setFilters((f) => ({ ...f, [key]: (e.currentTarget as HTMLInputElement).value }));
    setHistory({ items: [], next: null, error: null });
  };

  return (
    <section aria-labelledby="page-title" class="wallets">
      <PageHeading>Wallets</PageHeading>
      {wallets.error && !wallets.data && <p role="alert">{wallets.error}</p>}
      <ul class="wallet-list" aria-label="Your wallets">
        {own.map((w) => (
          <li key={w.id} data-wallet-id={w.id}>
            <strong>{w.name}</strong> <span class="balance">{formatMoney(w.balance, w.currency)}</span>
            <span class="muted wallet-id"> id {w.id}</span>
          </li>
        ))}
        {wallets.data && own.length === 0 && <li class="muted">No wallets yet.</li>}
      </ul>
      <NewWallet onCreated={() => void wallets.reload()} />
      {own.length > 0 && (
        <MoveMoney
          wallets={own}
          onDone={() => {
            void wallets.reload();
            void loadHistory();
          }}
        />
      )}

      <h2>History</h2>
      <fieldset class="filters">
        <legend>Filter the history</legend>
        <Field id="history-wallet" label="Wallet">
          <select id="history-wallet" value={filters.wallet_id} onChange={setFilter('wallet_id')}>
            <option value="">All wallets</option>
            {own.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name} ({w.currency})
              </option>
            ))}
          </select>
        </Field>
        <StatusFilter id="history-status" value={filters.status} onChange={setFilter('status')} />
        <Field id="history-after" label="After">
          <input
            id="history-after"
            type="datetime-local"
            value={filters.created_after}
            onChange={setFilter('created_after')}
          />
        </Field>
        <Field id="history-before" label="Before">
          <input
            id="history-before"
            type="datetime-local"
            value={filters.created_before}
            onChange={setFilter('created_before')}
          />
        </Field>
      </fieldset>
      {history.error && <p role="alert">{history.error}</p>}
      {history.items.length === 0 ? (
        <p class="muted">No transactions match.</p>
      ) : (
        <TransactionTable items={history.items} caption="Your transactions" walletName={nameOf} />
      )}
      {history.next && (
        <button type="button" class="secondary" onClick={() => void loadHistory(true)}>
          Load more
        </button>
      )}
    </section>
  );
}

function NewWallet({ onCreated }: { onCreated(): void }) {
  const { api, toast } = useApp();
  const [currency, setCurrency] = useState('EUR');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  // One key per wallet the user means to make: a retried click after a lost answer makes no second wallet.
  const [key, setKey] = useState(() => crypto.randomUUID());
  return (
    <form
      class="inline-form"
      aria-label="New wallet"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        try {
          await api.request('POST', '/api/wallets', {
            body: { currency: currency.trim().toUpperCase(), ...(name.trim() ? { name: name.trim() } : {}) },
            headers: { 'idempotency-key': key },
          });
          setKey(crypto.randomUUID());
          setName('');
          onCreated();
        } catch (err) {
          toast(`Could not create the wallet: ${errorMessage(err)}`, 'error');
        } finally {
          setBusy(false);
        }
      }}
    >
      <Field id="wallet-name" label="Wallet name">
        <input
          id="wallet-name"
          maxLength={100}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </Field>
      <Field id="wallet-currency" label="Currency">
        <input
          id="wallet-currency"
          required
          pattern="[A-Za-z]{3}"
          maxLength={3}
          value={currency}
          onInput={(e) => setCurrency(e.currentTarget.value)}
        />
      </Field>
      <button type="submit" disabled={busy}>
        Create wallet
      </button>
    </form>
  );
}

/** Send between wallets, or withdraw out of the system. */
function MoveMoney({ wallets, onDone }: { wallets: Wallet[]; onDone(): void }) {
  const { api, toast } = useApp();
  const [kind, setKind] = useState<'transfer' | 'withdrawal'>('transfer');
  const [from, setFrom] = useState(wallets[0]!.id);
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The Idempotency-Key of this submission: kept while the user retries the same one (a lost
  // answer must not move money twice), new once it went through or the form changed.
  const [key, setKey] = useState(() => crypto.randomUUID());
  const source = wallets.find((w) => w.id === from) ?? wallets[0]!;
  const change =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      set(v);
      setKey(crypto.randomUUID());
    };

  return (
    <form
      class="move-money"
      aria-label="Send or withdraw money"
      onSubmit={async (e) => {
        e.preventDefault();
        const minor = parseAmount(amount, source.currency);
        if (minor === null) return setError(`Enter a positive amount in ${source.currency}.`);
        if (kind === 'transfer' && !to.trim()) return setError('Choose the wallet to send to.');
        setError(null);
        setBusy(true);
        try {
          const created = await api.request<Transaction>('POST', '/api/transactions', {
            body: {
              kind,
              from_wallet_id: source.id,
              ...(kind === 'transfer' ? { to_wallet_id: to.trim() } : {}),
              amount: minor,
              description: description.trim(),
            },
            headers: { 'idempotency-key': key },
          });
          setKey(crypto.randomUUID());
          setAmount('');
          setDescription('');
          toast(
            `${kind === 'transfer' ? 'Sent' : 'Withdrawal of'} ${formatMoney(created.amount, created.currency)}: ${created.status}.`,
            'info',
          );
          onDone();
        } catch (err) {
          setError(errorMessage(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Move money</h2>
      <fieldset>
        <legend>What</legend>
        <label>
          <input
            type="radio"
            name="kind"
            checked={kind === 'transfer'}
            onChange={() => change(setKind)('transfer')}
          />{' '}
          Send to a wallet
        </label>
        <label>
          <input
            type="radio"
            name="kind"
            checked={kind === 'withdrawal'}
            onChange={() => change(setKind)('withdrawal')}
          />{' '}
          Withdraw
        </label>
      </fieldset>
      <Field id="move-from" label="From wallet">
        <select id="move-from" value={source.id} onChange={(e) => change(setFrom)(e.currentTarget.value)}>
          {wallets.map((w) => (
            <option key={w.id} value={w.id}>
              {w.name} ({formatMoney(w.balance, w.currency)})
            </option>
          ))}
        </select>
      </Field>
      {kind === 'transfer' && (
        <Field
          id="move-to"
          label="To wallet"
          hint="One of yours from the list, or the id of someone else's wallet."
        >
          <input
            id="move-to"
            list="own-wallets"
            aria-describedby="move-to-hint"
            value={to}
            onInput={(e) => change(setTo)(e.currentTarget.value)}
          />
          <datalist id="own-wallets">
            {wallets
              .filter((w) => w.id !== source.id && w.currency === source.currency)
              .map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                </option>
              ))}
          </datalist>
        </Field>
      )}
      <Field id="move-amount" label={`Amount (${source.currency})`}>
        <input
          id="move-amount"
          inputMode="decimal"
          required
          value={amount}
          onInput={(e) => change(setAmount)(e.currentTarget.value)}
        />
      </Field>
      <Field id="move-description" label="Description">
        <input
          id="move-description"
          maxLength={500}
          value={description}
          onInput={(e) => change(setDescription)(e.currentTarget.value)}
        />
      </Field>
      {error && <p role="alert">{error}</p>}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Working…' : kind === 'transfer' ? 'Send' : 'Withdraw'}
      </button>
    </form>
  );
}
