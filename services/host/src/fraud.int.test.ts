import { randomUUID } from 'node:crypto';
import { Topics, type Transaction, TYPE_PREFIX } from '@taskstream/contracts';
import { createFraudService, score } from '@taskstream/fraud';
import { createPaymentsService } from '@taskstream/payments';
import { childTraceparent, cloudEvent, type Envelope } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';

// Fraud scores concurrent transactions in shared transactions (group commit, ADR 0027). What must
// not change: each transaction scored once in effect, and each on its wallet's history of the
// transactions delivered before it (the bus delivers a wallet's events in log order).

const CREATED = `${TYPE_PREFIX}transaction.created`;
const SCORED = `${TYPE_PREFIX}fraud.score.updated`;

/** The transactions of `transaction.created` events in the order the bus delivers them. */
async function createdInDeliveryOrder(rt: TestRuntime): Promise<Transaction[]> {
  const { rows } = await rt.pool.query<{ t: Transaction }>(
    `SELECT event->'data'->'transaction' AS t FROM event_log
     WHERE topic = $1 AND event->>'type' = $2 ORDER BY tx, id`,
    [Topics.paymentEvents, CREATED],
  );
  return rows.map((r) => r.t);
}

/**
 * The score each transaction should get, worked out one at a time in delivery order: the scorer
 * on the wallet's transactions before it, as the one-event-at-a-time service computed it.
 */
function expectedScores(inOrder: Transaction[], settings: TestRuntime['config']) {
  const seen = new Map<string, Transaction[]>();
  const window = settings.FRAUD_VELOCITY_WINDOW_SECONDS * 1000;
  return new Map(
    inOrder.map((t) => {
      const earlier = seen.get(t.from_wallet_id) ?? [];
      const at = Date.parse(t.created_at);
      const result = score(
        t.amount,
        {
          count: earlier.length,
          meanAmount: earlier.length ? earlier.reduce((sum, e) => sum + e.amount, 0) / earlier.length : 0,
          recent: earlier.filter(
            (e) => Date.parse(e.created_at) > at - window && Date.parse(e.created_at) <= at,
          ).length,
          knownCounterparty: earlier.some((e) => e.to_wallet_id === t.to_wallet_id),
        },
        settings,
      );
      seen.set(t.from_wallet_id, [...earlier, t]);
      return [t.id, result];
    }),
  );
}

/** Per transaction: its score row, and how many `fraud.score.updated` events went out for it. */
async function scoresOf(rt: TestRuntime) {
  const { rows } = await rt.pool.query<{
    transaction_id: string;
    score: number;
    decision: string;
    factors: Record<string, number>;
    events: number;
  }>(
    `SELECT s.transaction_id, s.score, s.decision, s.factors,
            (SELECT count(*)::int FROM event_log e
             WHERE e.event->>'type' = $1 AND e.event->'data'->>'transaction_id' = s.transaction_id::text) AS events
     FROM fraud_scores s`,
    [SCORED],
  );
  return new Map(rows.map((r) => [r.transaction_id, r]));
}

async function metric(rt: TestRuntime, decision: string) {
  const text = await (await fetch(`${rt.url}/metrics`)).text();
  const match = text.match(
    new RegExp(`^taskstream_fraud_scores_total\\{decision="${decision}"\\} (\\d+)`, 'm'),
  );
  return Number(match?.[1] ?? 0);
}

describe('fraud scoring of concurrent transfers', () => {
  let rt: TestRuntime;
  afterAll(async () => {
    await rt?.close();
  });

  test('many transfers from a few wallets at once: each scored once, on the wallet history before it', async () => {
    // Nothing held (the test is about the scores); a velocity limit no wallet here reaches.
    rt = await startTestRuntime([createPaymentsService, createFraudService], {
      env: { FRAUD_HOLD_THRESHOLD: '2', FRAUD_VELOCITY_LIMIT: '100' },
    });
    const admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    const post = (path: string, token: string, body?: unknown) =>
      rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
    const payee = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    const targets = [
      (await post('/api/wallets', payee, { currency: 'EUR' })).body.id,
      (await post('/api/wallets', payee, { currency: 'EUR' })).body.id,
    ];
    const payers: { token: string; wallet: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const token = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
      const wallet = (await post('/api/wallets', token, { currency: 'EUR' })).body.id;
      expect((await post(`/api/wallets/${wallet}/deposits`, admin, { amount: 1_000_000 })).status).toBe(201);
      payers.push({ token, wallet });
    }

    // 20 transfers per wallet, all sent at once; amounts and counterparties vary, so each
    // factor depends on which of the wallet's transfers were scored before.
    const sent = await Promise.all(
      payers.flatMap(({ token, wallet }) =>
        Array.from({ length: 20 }, (_, i) =>
          post('/api/transactions', token, {
            from_wallet_id: wallet,
            to_wallet_id: targets[i % 3 === 0 ? 1 : 0],
            amount: 100 * (1 + ((i * 7) % 5)),
          }),
        ),
      ),
    );
    expect(sent.map((r) => r.status)).toEqual(sent.map(() => 201));
    const ids = sent.map((r) => r.body.id as string);

    // The deposits are scored too (as payments publishes them); they are in the order as well.
    await eventually(async () => {
      const { rows } = await rt.pool.query(
        'SELECT count(*)::int AS n FROM fraud_scores WHERE transaction_id = ANY($1::uuid[])',
        [ids],
      );
      return rows[0].n === ids.length;
    }, 60_000);
    const inOrder = await createdInDeliveryOrder(rt);
    expect(inOrder.map((t) => t.id)).toEqual(expect.arrayContaining(ids));
    const expected = expectedScores(inOrder, rt.config);
    const scores = await scoresOf(rt);
    for (const id of ids) {
      const want = expected.get(id)!;
      expect({ id, ...scores.get(id) }).toEqual({
        id,
        transaction_id: id,
        score: expect.closeTo(want.score, 3),
        decision: want.decision,
        factors: { ...want.factors, amount: expect.closeTo(want.factors.amount, 3) },
        events: 1,
      });
    }

    // Each wallet's history holds exactly its transfers.
    for (const { wallet } of payers) {
      const { rows } = await rt.pool.query(
        'SELECT transaction_id FROM fraud_history WHERE wallet_id = $1 ORDER BY transaction_id',
        [wallet],
      );
      const own = inOrder.filter((t) => t.from_wallet_id === wallet).map((t) => t.id);
      expect(rows.map((r) => r.transaction_id)).toEqual([...own].sort());
    }
  }, 120_000);
});

describe('fraud scoring of a burst of events', () => {
  let rt: TestRuntime;
  afterAll(async () => {
    await rt?.close();
  });

  test('several wallets, and several events of one wallet, share a transaction; the window counts back from each transaction; a redelivery scores nothing', async () => {
    rt = await startTestRuntime([createFraudService], {
      env: { FRAUD_VELOCITY_LIMIT: '10', FRAUD_VELOCITY_WINDOW_SECONDS: '60' },
    });
    // Four wallets, each paying one counterparty 12 times 20 s apart, an hour ago, all in one
    // publish: the bus hands fraud the four wallets' events at once.
    const wallets = Array.from({ length: 4 }, () => randomUUID());
    const counterparty = randomUUID();
    const start = Date.now() - 3_600_000;
    const events: Envelope[] = [];
    for (let k = 0; k < 12; k++) {
      for (const wallet of wallets) {
        const at = new Date(start + k * 20_000).toISOString();
        const transaction: Transaction = {
          id: randomUUID(),
          kind: 'transfer',
          status: 'created',
          from_wallet_id: wallet,
          to_wallet_id: counterparty,
          amount: 1_000,
          currency: 'EUR',
          description: '',
          reason: null,
          fraud_score: null,
          created_by: randomUUID(),
          created_at: at,
          updated_at: at,
        };
        events.push(
          cloudEvent('transaction.created', {
            source: '/taskstream/payments',
            subject: transaction.id,
            data: { transaction },
            traceparent: childTraceparent(),
          }),
        );
      }
    }
    const messages = events.map((event) => ({
      topic: Topics.paymentEvents,
      partitionKey: (event.data as { transaction: Transaction }).transaction.from_wallet_id,
      event,
    }));
    await rt.ports.bus.publish(messages);
    await eventually(
      async () => (await rt.pool.query('SELECT 1 FROM fraud_scores')).rowCount === events.length,
      60_000,
    );

    // Velocity: of the earlier ones, those 20 and 40 s before are in the 60 s window, not older
    // ones (the window is relative to the transaction's created_at, an hour ago, not to now).
    const factorsOf = await scoresOf(rt);
    for (const wallet of wallets) {
      const own = events.filter(
        (e) => (e.data as { transaction: Transaction }).transaction.from_wallet_id === wallet,
      );
      const factors = own.map((e) => factorsOf.get(e.subject!)!.factors);
      expect(factors).toEqual(
        Array.from({ length: 12 }, (_, k) => ({
          amount: k === 0 ? 0.5 : 0,
          velocity: Math.min(k, 2) / 10,
          new_counterparty: k === 0 ? 1 : 0,
        })),
      );
    }
    expect([...factorsOf.values()].every((s) => s.events === 1)).toBe(true);
    // One transaction per batch (its inbox rows share the transaction's now()): several wallets
    // went together, and several events of one wallet, whose factors above count the earlier
    // ones of their batch.
    const { rows: batches } = await rt.pool.query<{ wallets: number; events: number }>(
      `SELECT count(DISTINCT s.wallet_id)::int AS wallets, count(*)::int AS events
       FROM fraud_inbox i JOIN fraud_scores s ON s.event_id = i.event_id GROUP BY i.received_at`,
    );
    expect(batches.some((b) => b.wallets > 1)).toBe(true);
    expect(batches.some((b) => b.events > b.wallets)).toBe(true);

    // Delivered again (same event ids): nothing scored or published again.
    await rt.ports.bus.publish(messages);
    await eventually(async () => (await metric(rt, 'duplicate')) === events.length, 60_000);
    const again = await scoresOf(rt);
    expect(again.size).toBe(events.length);
    expect([...again.values()].every((s) => s.events === 1)).toBe(true);
    expect((await metric(rt, 'allow')) + (await metric(rt, 'hold'))).toBe(events.length);
  }, 120_000);
});
