/** The transaction list both payment screens show: the user's history and the admins' dashboard. */
import type { ComponentChildren } from 'preact';
import { formatMoney } from '../lib/money.js';
import { formatInZone } from '../lib/time.js';
import type { Transaction, TransactionStatus } from '../types.js';
import { Field } from './field.js';

export const TRANSACTION_STATUSES: TransactionStatus[] = [
  'created',
  'held',
  'completed',
  'failed',
  'reversed',
];

export function TransactionTable({
  items,
  caption,
  walletName,
  actions,
}: {
  items: Transaction[];
  caption: string;
  /** A wallet's name for its id, when the viewer knows it (their own wallets). */
  walletName?: (id: string) => string | undefined;
  actions?: (transaction: Transaction) => ComponentChildren;
}) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const name = (id: string) => walletName?.(id) ?? `…${id.slice(-6)}`;
  return (
    <div class="table-wrap">
      <table class="transactions-table">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Kind</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">Amount</th>
            <th scope="col">Status</th>
            <th scope="col">Fraud score</th>
            {actions && (
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {items.map((t) => (
            <tr key={t.id} data-transaction-id={t.id} data-status={t.status}>
              <td data-label="Time">
                <time dateTime={t.created_at}>{formatInZone(t.created_at, zone)}</time>
              </td>
              <td data-label="Kind">{t.kind}</td>
              <td data-label="From">{name(t.from_wallet_id)}</td>
              <td data-label="To">{name(t.to_wallet_id)}</td>
              <td data-label="Amount">{formatMoney(t.amount, t.currency)}</td>
              <td data-label="Status">
                {t.status}
                {t.reason ? ` (${t.reason.replace('_', ' ')})` : ''}
              </td>
              <td data-label="Fraud score">{t.fraud_score === null ? '—' : t.fraud_score.toFixed(2)}</td>
              {actions && <td class="row-actions">{actions(t)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The status filter both payment screens offer ("Any status" or one of them). */
export function StatusFilter({
  id,
  value,
  onChange,
}: {
  id: string;
  value: string;
  onChange(e: Event): void;
}) {
  return (
    <Field id={id} label="Status">
      <select id={id} value={value} onChange={onChange}>
        <option value="">Any status</option>
        {TRANSACTION_STATUSES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
    </Field>
  );
}
