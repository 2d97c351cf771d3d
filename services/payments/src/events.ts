import { type EventOf, type PaymentEventName, Topics, type Transaction } from '@taskstream/contracts';
import { cloudEvent, type OutgoingMessage } from '@taskstream/platform';

export const SOURCE = '/taskstream/payments';

export type BalanceChange = EventOf<'balance.updated'>['data'];

const TRANSACTION_EVENT = {
  created: 'transaction.created',
  held: 'transaction.held',
  completed: 'transaction.completed',
  failed: 'transaction.failed',
  reversed: 'transaction.reversed',
} as const satisfies Record<Transaction['status'], PaymentEventName>;

/** A withdrawal's steps also go to `withdrawal-events`, for whatever pays out (not `held`: still pending). */
const WITHDRAWAL_EVENT: Partial<Record<Transaction['status'], PaymentEventName>> = {
  created: 'withdrawal.requested',
  completed: 'withdrawal.completed',
  failed: 'withdrawal.failed',
  reversed: 'withdrawal.reversed',
};

const paymentEvent = <N extends PaymentEventName>(
  name: N,
  subject: string,
  data: EventOf<N>['data'],
  traceparent: string,
  time: string,
) => cloudEvent(name, { source: SOURCE, subject, data, traceparent, time });

/**
 * The events of a transaction reaching its current status: the transaction event keyed by the
 * debited wallet, then one `balance.updated` per changed wallet keyed by that wallet (each with
 * the wallet's version, which orders a wallet's balances whatever the delivery order), then a
 * withdrawal's own event.
 */
export function messagesFor(
  transaction: Transaction,
  changes: BalanceChange[],
  traceparent: string,
): OutgoingMessage[] {
  const time = transaction.updated_at;
  const messages: OutgoingMessage[] = [
    {
      topic: Topics.paymentEvents,
      partitionKey: transaction.from_wallet_id,
      event: paymentEvent(
        TRANSACTION_EVENT[transaction.status],
        transaction.id,
        { transaction },
        traceparent,
        time,
      ),
    },
    ...changes.map((change) => ({
      topic: Topics.paymentEvents,
      partitionKey: change.wallet_id,
      event: paymentEvent('balance.updated', change.wallet_id, change, traceparent, time),
    })),
  ];
  const withdrawal = transaction.kind === 'withdrawal' ? WITHDRAWAL_EVENT[transaction.status] : undefined;
  if (withdrawal)
    messages.push({
      topic: Topics.withdrawalEvents,
      partitionKey: transaction.from_wallet_id,
      event: paymentEvent(
        withdrawal,
        transaction.id,
        {
          withdrawal_id: transaction.id,
          wallet_id: transaction.from_wallet_id,
          amount: transaction.amount,
          currency: transaction.currency,
          reason: transaction.reason,
        },
        traceparent,
        time,
      ),
    });
  return messages;
}
