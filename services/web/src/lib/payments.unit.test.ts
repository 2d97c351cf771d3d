import type { Transaction } from '../types.js';
import { ratesByStatus, scoreHistogram, upsertTransaction } from './payments.js';

const tx = (status: Transaction['status'], updated: number, score: number | null): Transaction => ({
  id: `${status}-${updated}`,
  kind: 'transfer',
  status,
  from_wallet_id: 'a',
  to_wallet_id: 'b',
  amount: 1,
  currency: 'EUR',
  description: '',
  reason: null,
  fraud_score: score,
  created_by: 'u',
  created_at: new Date(updated).toISOString(),
  updated_at: new Date(updated).toISOString(),
});

test('rates count what reached each status in the window, per second', () => {
  const now = 10_000;
  const items = [
    tx('completed', 9_500, 0.1),
    tx('completed', 8_500, 0.2),
    tx('held', 9_900, 0.95),
    tx('failed', 5_000, 1),
  ];
  expect(ratesByStatus(items, now, 2_000)).toEqual({ completed: 1, held: 0.5 });
});

test('scores fall in tenths, unscored ones nowhere', () => {
  const counts = scoreHistogram([
    tx('completed', 0, 0),
    tx('held', 0, 0.95),
    tx('failed', 0, 1),
    tx('created', 0, null),
  ]);
  expect(counts).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
});

test('a live transaction replaces its older state or joins newest first, within the limit', () => {
  const a = tx('created', 1_000, null);
  const b = { ...tx('created', 2_000, null), id: 'b' };
  const list = [b, { ...a, id: 'a' }];
  const completed = {
    ...a,
    id: 'a',
    status: 'completed' as const,
    updated_at: new Date(3_000).toISOString(),
  };
  expect(upsertTransaction(list, completed, 10).map((t) => t.status)).toEqual(['created', 'completed']);
  // A stale state does not win over a newer one.
  expect(upsertTransaction([completed], { ...a, id: 'a' }, 10)[0]!.status).toBe('completed');
  expect(upsertTransaction(list, { ...a, id: 'c' }, 2).map((t) => t.id)).toEqual(['c', 'b']);
});
