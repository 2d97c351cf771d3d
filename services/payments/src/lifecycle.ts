import type { TransactionStatus } from '@taskstream/contracts';
import { HttpError } from '@taskstream/platform';

/**
 * The lifecycle of a transaction (ADR 0017): created → completed | failed | held, held →
 * completed | failed, completed → reversed. `failed` and `reversed` are final. Every other move
 * is refused, whoever asks.
 */
export const TRANSITIONS: Record<TransactionStatus, readonly TransactionStatus[]> = {
  created: ['completed', 'failed', 'held'],
  held: ['completed', 'failed'],
  completed: ['reversed'],
  failed: [],
  reversed: [],
};

export const canMove = (from: TransactionStatus, to: TransactionStatus): boolean =>
  TRANSITIONS[from].includes(to);

/** 409 naming both states, for a refused move. */
export function invalidTransition(from: TransactionStatus, to: TransactionStatus): HttpError {
  return new HttpError(409, 'invalid_transition', `a ${from} transaction cannot become ${to}`, {
    from,
    to,
  });
}

export function assertMove(from: TransactionStatus, to: TransactionStatus): void {
  if (!canMove(from, to)) throw invalidTransition(from, to);
}
