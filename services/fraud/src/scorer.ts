import type { Config } from '@taskstream/platform';

/** What the scorer knows of the paying wallet before this transaction (ADR 0018). */
export interface WalletHistory {
  /** Earlier transactions paid from the wallet, and their mean amount (minor units). */
  count: number;
  meanAmount: number;
  /** Of those, how many within the velocity window before this one. */
  recent: number;
  /** Whether the wallet paid this counterparty before. */
  knownCounterparty: boolean;
}

export type ScorerSettings = Pick<
  Config,
  | 'FRAUD_HOLD_THRESHOLD'
  | 'FRAUD_WEIGHT_AMOUNT'
  | 'FRAUD_WEIGHT_VELOCITY'
  | 'FRAUD_WEIGHT_NEW_COUNTERPARTY'
  | 'FRAUD_AMOUNT_RATIO'
  | 'FRAUD_VELOCITY_LIMIT'
>;

/** With no history there is no mean to compare with: the amount counts half. */
const UNKNOWN_AMOUNT = 0.5;
const clamp = (x: number) => Math.min(1, Math.max(0, x));
const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * The rule-based score in 0..1: the weighted mean of three factors, each in 0..1. Amount: 0 at or
 * below the wallet's mean so far, rising to 1 at FRAUD_AMOUNT_RATIO times it. Velocity: earlier
 * transactions in the window over FRAUD_VELOCITY_LIMIT. New counterparty: 1 for a wallet never paid.
 */
export function score(amount: number, history: WalletHistory, settings: ScorerSettings) {
  const factors = {
    amount: round(
      history.count === 0
        ? UNKNOWN_AMOUNT
        : clamp((amount / history.meanAmount - 1) / (settings.FRAUD_AMOUNT_RATIO - 1)),
    ),
    velocity: round(clamp(history.recent / settings.FRAUD_VELOCITY_LIMIT)),
    new_counterparty: history.knownCounterparty ? 0 : 1,
  };
  const weights =
    settings.FRAUD_WEIGHT_AMOUNT + settings.FRAUD_WEIGHT_VELOCITY + settings.FRAUD_WEIGHT_NEW_COUNTERPARTY;
  const value =
    weights === 0
      ? 0
      : round(
          clamp(
            (settings.FRAUD_WEIGHT_AMOUNT * factors.amount +
              settings.FRAUD_WEIGHT_VELOCITY * factors.velocity +
              settings.FRAUD_WEIGHT_NEW_COUNTERPARTY * factors.new_counterparty) /
              weights,
          ),
        );
  return {
    score: value,
    threshold: settings.FRAUD_HOLD_THRESHOLD,
    decision: value >= settings.FRAUD_HOLD_THRESHOLD ? ('hold' as const) : ('allow' as const),
    factors,
  };
}
