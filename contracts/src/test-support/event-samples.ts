import {
  dataschemaFor,
  type EventName,
  type EventOf,
  type PaymentEventName,
  PaymentEventSchemas,
  SecurityEventNames,
  TYPE_PREFIX,
} from '../events.js';
import type { Transaction } from '../payments.js';
import type { Task } from '../tasks.js';

export const USER_ID = '0190f1a2-7b3c-7d4e-8f50-6a7b8c9d0e1f';
export const TASK_ID = '0190f1a2-7b3c-7d4e-8f50-000000000001';

export const sampleTask = (over: Partial<Task> = {}): Task => ({
  id: TASK_ID,
  user_id: USER_ID,
  title: 'Water the plants',
  description: '',
  status: 'pending',
  priority: 'medium',
  tags: ['home'],
  due_date: '2025-03-01T09:00:00+01:00',
  time_zone: 'Europe/Berlin',
  recurrence: { rule: 'weekly:MO', anchor: 'due', month_end: 'skip' },
  reminders: [{ offset_minutes: 30, channels: ['in_app', 'email'] }],
  series_id: null,
  occurrence: 1,
  version: 1,
  created_at: '2025-02-20T08:00:00Z',
  updated_at: '2025-02-20T08:00:00Z',
  completed_at: null,
  ...over,
});

const reminder = { reminder_id: `${TASK_ID}:0`, channels: ['in_app' as const] };
type TaskOrSecurityEvent = Exclude<EventName, PaymentEventName>;
const payloads: { [N in TaskOrSecurityEvent]: EventOf<N>['data']['payload'] } = {
  'task.created': { task: sampleTask() },
  'task.updated': {
    task: sampleTask({ title: 'Water all plants', version: 2 }),
    changes: { title: { before: 'Water the plants', after: 'Water all plants' } },
  },
  'task.completed': {
    task: sampleTask({ status: 'completed', completed_at: '2025-03-01T09:05:00+01:00', version: 3 }),
  },
  'task.reopened': { task: sampleTask({ version: 4 }) },
  'task.deleted': { task: sampleTask({ version: 5 }) },
  'reminder.scheduled': {
    ...reminder,
    fire_at: '2025-03-01T08:30:00+01:00',
    title: 'Water the plants',
    due_date: '2025-03-01T09:00:00+01:00',
    time_zone: 'Europe/Berlin',
  },
  'reminder.cancelled': { reminder_id: reminder.reminder_id, reason: 'task completed' },
  'reminder.sent': { reminder_id: reminder.reminder_id, channel: 'in_app', attempt: 1 },
  'reminder.failed': { reminder_id: reminder.reminder_id, channel: 'email', attempt: 3, error: 'SMTP 550' },
  'notification.created': {
    notification_id: 'n-1',
    title: 'Water the plants',
    body: 'due at 09:00',
    created_at: '2025-03-01T08:30:00+01:00',
  },
  'auth.login_succeeded': { email: 'ada@example.com' },
  'auth.login_failed': { email: 'ada@example.com', reason: 'wrong_credentials' },
  'auth.registered': { email: 'ada@example.com', outcome: 'created', by: 'self' },
  'auth.password_changed': {},
  'admin.dlq_replayed': { dead_letter_id: '42' },
  'admin.dlq_discarded': { dead_letter_id: '42', reason: 'bad rule, fixed by hand' },
  'admin.user_disabled': { user_id: USER_ID, email: 'ada@example.com', reason: 'left the company' },
  'admin.projection_replayed': { projection: 'audit', from: null, dry_run: false, read: 12, applied: 3 },
  'audit.exported': { format: 'csv', filters: { task_id: TASK_ID } },
};

export const WALLET_ID = '0190f1a2-7b3c-7d4e-8f50-00000000a001';
export const OTHER_WALLET_ID = '0190f1a2-7b3c-7d4e-8f50-00000000a002';
export const TRANSACTION_ID = '0190f1a2-7b3c-7d4e-8f50-00000000b001';
export const sampleTransaction = (over: Partial<Transaction> = {}): Transaction => ({
  id: TRANSACTION_ID,
  kind: 'transfer',
  status: 'created',
  from_wallet_id: WALLET_ID,
  to_wallet_id: OTHER_WALLET_ID,
  amount: 12_345,
  currency: 'EUR',
  description: 'rent',
  reason: null,
  fraud_score: null,
  created_by: USER_ID,
  created_at: '2025-02-20T08:00:00Z',
  updated_at: '2025-02-20T08:00:00Z',
  ...over,
});
const withdrawal = {
  withdrawal_id: TRANSACTION_ID,
  wallet_id: WALLET_ID,
  amount: 12_345,
  currency: 'EUR',
  reason: null,
};
const paymentData: { [N in PaymentEventName]: EventOf<N>['data'] } = {
  'transaction.created': { transaction: sampleTransaction() },
  'transaction.held': { transaction: sampleTransaction({ status: 'held', fraud_score: 0.9 }) },
  'transaction.completed': { transaction: sampleTransaction({ status: 'completed', fraud_score: 0.2 }) },
  'transaction.failed': {
    transaction: sampleTransaction({ status: 'failed', reason: 'insufficient_funds', fraud_score: 0.2 }),
  },
  'transaction.reversed': { transaction: sampleTransaction({ status: 'reversed', fraud_score: 0.2 }) },
  'balance.updated': {
    wallet_id: WALLET_ID,
    user_id: USER_ID,
    currency: 'EUR',
    balance: 87_655,
    delta: -12_345,
    version: 3,
    transaction_id: TRANSACTION_ID,
  },
  'fraud.score.updated': {
    transaction_id: TRANSACTION_ID,
    wallet_id: WALLET_ID,
    score: 0.45,
    threshold: 0.8,
    decision: 'allow',
    factors: { amount: 0.5, velocity: 0, new_counterparty: 1 },
  },
  'withdrawal.requested': withdrawal,
  'withdrawal.completed': withdrawal,
  'withdrawal.failed': { ...withdrawal, reason: 'insufficient_funds' },
  'withdrawal.reversed': withdrawal,
};
const isPayment = (name: EventName): name is PaymentEventName => name in PaymentEventSchemas;

const securityData = (name: TaskOrSecurityEvent) => ({
  actor: USER_ID,
  client_address: '203.0.113.7',
  user_agent: 'Mozilla/5.0',
  payload: payloads[name],
});

/** A valid event of each type, as a producer would publish it (not parsed: tests do that). */
export function sampleEvent<N extends EventName>(name: N): EventOf<N> {
  return {
    specversion: '1.0',
    id: '0190f1a2-7b3c-7d4e-8f50-6a7b8c9d0e99',
    type: `${TYPE_PREFIX}${name}`,
    source: '/task-api',
    time: '2025-02-20T08:00:00.123Z',
    subject: isPayment(name) ? (name === 'balance.updated' ? WALLET_ID : TRANSACTION_ID) : TASK_ID,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    data: isPayment(name)
      ? paymentData[name]
      : (SecurityEventNames as EventName[]).includes(name)
        ? securityData(name)
        : {
            user_id: USER_ID,
            task_id: TASK_ID,
            sequence: 7,
            task_version: 1,
            idempotency_key: `${TASK_ID}:1:${name}`,
            payload: payloads[name as TaskOrSecurityEvent],
            changed_fields: name === 'task.updated' ? ['title'] : [],
          },
  } as EventOf<N>;
}
