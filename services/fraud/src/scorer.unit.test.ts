import fc from 'fast-check';
import { type ScorerSettings, score } from './scorer.js';

const defaults: ScorerSettings = {
  FRAUD_HOLD_THRESHOLD: 0.8,
  FRAUD_WEIGHT_AMOUNT: 0.5,
  FRAUD_WEIGHT_VELOCITY: 0.3,
  FRAUD_WEIGHT_NEW_COUNTERPARTY: 0.2,
  FRAUD_AMOUNT_RATIO: 5,
  FRAUD_VELOCITY_LIMIT: 10,
};
const usual = { count: 20, meanAmount: 1000, recent: 0, knownCounterparty: true };

describe('fraud score', () => {
  it('a usual payment to a known counterparty scores 0 and passes', () => {
    expect(score(900, usual, defaults)).toMatchObject({ score: 0, decision: 'allow' });
  });

  it('a first payment to someone new scores the unknown amount and the new counterparty', () => {
    const first = score(5000, { count: 0, meanAmount: 0, recent: 0, knownCounterparty: false }, defaults);
    expect(first.factors).toEqual({ amount: 0.5, velocity: 0, new_counterparty: 1 });
    expect(first.score).toBeCloseTo(0.45);
    expect(first.decision).toBe('allow');
  });

  it('five times the usual amount, in a burst, to someone new is held', () => {
    const burst = score(5000, { ...usual, recent: 10, knownCounterparty: false }, defaults);
    expect(burst).toMatchObject({
      score: 1,
      decision: 'hold',
      factors: { amount: 1, velocity: 1, new_counterparty: 1 },
    });
  });

  it('the weights decide: with only the counterparty weighted, a new one alone holds', () => {
    const settings = { ...defaults, FRAUD_WEIGHT_AMOUNT: 0, FRAUD_WEIGHT_VELOCITY: 0 };
    expect(score(1, { ...usual, knownCounterparty: false }, settings).decision).toBe('hold');
    expect(score(1, usual, settings).decision).toBe('allow');
  });

  it('any input scores within 0..1, and a larger amount never scores lower', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e12 }),
        fc.integer({ min: 1, max: 1e12 }),
        fc.record({
          count: fc.nat(1000),
          meanAmount: fc.integer({ min: 1, max: 1e12 }),
          recent: fc.nat(1000),
          knownCounterparty: fc.boolean(),
        }),
        (a, b, history) => {
          const [low, high] = [
            score(Math.min(a, b), history, defaults),
            score(Math.max(a, b), history, defaults),
          ];
          for (const s of [low, high]) expect(s.score >= 0 && s.score <= 1).toBe(true);
          expect(high.score).toBeGreaterThanOrEqual(low.score);
        },
      ),
    );
  });
});
