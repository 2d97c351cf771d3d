import { TransactionStatus } from '@taskstream/contracts';
import fc from 'fast-check';
import { canMove, invalidTransition, TRANSITIONS } from './lifecycle.js';

const statuses = TransactionStatus.options;

describe('transaction lifecycle', () => {
  it('allows exactly the moves of ADR 0017', () => {
    const allowed = statuses.flatMap((from) =>
      statuses.filter((to) => canMove(from, to)).map((to) => `${from}→${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'created→completed',
        'created→failed',
        'created→held',
        'held→completed',
        'held→failed',
        'completed→reversed',
      ].sort(),
    );
  });

  it('any walk of moves from created ends in a final state within three moves, and never returns', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...statuses), { maxLength: 20 }), (wanted) => {
        let status: TransactionStatus = 'created';
        const seen: TransactionStatus[] = [status];
        for (const to of wanted) {
          if (!canMove(status, to)) continue;
          status = to;
          seen.push(to);
        }
        // No state is visited twice: money cannot be posted or reversed twice.
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.length).toBeLessThanOrEqual(4);
        if (TRANSITIONS[status].length === 0) expect(['failed', 'reversed']).toContain(status);
      }),
    );
  });

  it('a refused move is a 409 naming both states', () => {
    const err = invalidTransition('failed', 'reversed');
    expect([err.status, err.code, err.details]).toEqual([
      409,
      'invalid_transition',
      { from: 'failed', to: 'reversed' },
    ]);
  });
});
