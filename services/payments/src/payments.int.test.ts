import { randomUUID } from 'node:crypto';
import { Topics } from '@taskstream/contracts';
import { childTraceparent, cloudEvent } from '@taskstream/platform';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createPaymentsService, PAYMENTS_IDEMPOTENCY_PRUNE_JOB } from './index.js';
import { replayLedger } from './replay.js';

// Payments alone on a real PostgreSQL: the fraud scores it waits for are published here by hand,
// as the fraud service would (services never import each other; the host tests run both).

interface Wallet {
  id: string;
  balance: number;
}
interface Tx {
  id: string;
  status: string;
  reason: string | null;
}

describe('payments', () => {
  let rt: TestRuntime;
  let admin: string;
  let alice: string;
  let bob: string;
  let eve: string;
  let adminId: string;
  let aliceEur: Wallet;
  let aliceUsd: Wallet;
  let bobEur: Wallet;
  let eveEur: Wallet;

  const key = () => randomUUID();
  const post = (path: string, token: string, body?: unknown, idempotencyKey: string | null = key()) =>
    rt.request('POST', path, {
      token,
      body,
      headers: idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey },
    });
  const get = (path: string, token: string) => rt.request('GET', path, { token });

  async function openWallet(token: string, currency: string): Promise<Wallet> {
    const res = await post('/api/wallets', token, { currency });
    expect(res.status).toBe(201);
    return res.body;
  }
  async function deposit(wallet: Wallet, amount: number) {
    const res = await post(`/api/wallets/${wallet.id}/deposits`, admin, { amount });
    expect([res.status, res.body.status]).toEqual([201, 'completed']);
    return res.body as Tx;
  }
  const balance = async (wallet: Wallet) =>
    (await get(`/api/wallets/${wallet.id}`, admin)).body.balance as number;
  const statusOf = async (id: string) => (await get(`/api/transactions/${id}`, admin)).body as Tx;

  /** What the fraud service would publish for a created transaction. */
  async function score(tx: Tx & { from_wallet_id?: string }, decision: 'allow' | 'hold', value = 0.5) {
    await rt.ports.bus.publish([
      {
        topic: Topics.paymentEvents,
        partitionKey: tx.from_wallet_id ?? tx.id,
        event: cloudEvent('fraud.score.updated', {
          source: '/test',
          subject: tx.id,
          traceparent: childTraceparent(),
          data: {
            transaction_id: tx.id,
            wallet_id: tx.from_wallet_id ?? tx.id,
            score: value,
            threshold: 0.8,
            decision,
            factors: { amount: 0, velocity: 0, new_counterparty: 1 },
          },
        }),
      },
    ]);
  }
  /** Requests a transfer, scores it and waits until the score was acted on. */
  async function transfer(from: Wallet, to: Wallet, amount: number, decision: 'allow' | 'hold' = 'allow') {
    const created = await post('/api/transactions', alice, {
      from_wallet_id: from.id,
      to_wallet_id: to.id,
      amount,
    });
    expect([created.status, created.body.status]).toEqual([201, 'created']);
    await score(created.body, decision);
    return eventually(async () => {
      const now = await statusOf(created.body.id);
      return now.status !== 'created' && now;
    });
  }

  beforeAll(async () => {
    rt = await startTestRuntime([createPaymentsService]);
    adminId = randomUUID();
    admin = await rt.auth.sign({ userId: adminId, role: 'admin' });
    alice = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    bob = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    eve = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    aliceEur = await openWallet(alice, 'EUR');
    aliceUsd = await openWallet(alice, 'USD');
    bobEur = await openWallet(bob, 'EUR');
    eveEur = await openWallet(eve, 'EUR');
  });
  afterAll(async () => {
    await rt?.close();
  });

  describe('creating is idempotent and needs an Idempotency-Key', () => {
    it('a create without the key is a 400 naming the header', async () => {
      for (const [path, token, body] of [
        ['/api/wallets', alice, { currency: 'EUR' }],
        ['/api/transactions', alice, { from_wallet_id: aliceEur.id, to_wallet_id: bobEur.id, amount: 1 }],
        [`/api/wallets/${aliceEur.id}/deposits`, admin, { amount: 1 }],
      ] as const) {
        const res = await post(path, token, body, null);
        expect([res.status, res.body.error.details]).toEqual([400, { header: 'Idempotency-Key' }]);
      }
    });

    it('the same key and body give the same wallet or transaction, also when sent at once; another body 422', async () => {
      const walletKey = key();
      const wallets = await Promise.all(
        Array.from({ length: 5 }, () =>
          post('/api/wallets', bob, { currency: 'GBP', name: 'Savings' }, walletKey),
        ),
      );
      expect(new Set(wallets.map((w) => w.body.id)).size).toBe(1);
      expect(wallets.map((w) => w.status)).toEqual(Array(5).fill(201));
      const other = await post('/api/wallets', bob, { currency: 'CHF' }, walletKey);
      expect([other.status, other.body.error.code]).toEqual([422, 'unprocessable']);

      await deposit(aliceEur, 10_000);
      const txKey = key();
      const body = { from_wallet_id: aliceEur.id, to_wallet_id: bobEur.id, amount: 100 };
      const sent = await Promise.all(
        Array.from({ length: 8 }, () => post('/api/transactions', alice, body, txKey)),
      );
      expect(new Set(sent.map((s) => s.body.id)).size).toBe(1);
      const { rows } = await rt.pool.query(
        `SELECT count(*)::int AS n FROM event_log WHERE event->>'type' = 'com.taskstream.transaction.created'
         AND event->'data'->'transaction'->>'id' = $1`,
        [sent[0]!.body.id],
      );
      expect(rows[0].n).toBe(1);
      // The same key of another user is another request.
      const bobs = await post(
        '/api/transactions',
        bob,
        { from_wallet_id: bobEur.id, to_wallet_id: aliceEur.id, amount: 1 },
        txKey,
      );
      expect(bobs.status).toBe(201);
      expect(bobs.body.id).not.toBe(sent[0]!.body.id);
      await score(sent[0]!.body, 'allow');
      await score(bobs.body, 'hold');
      await eventually(async () => (await statusOf(sent[0]!.body.id)).status === 'completed');
      await eventually(async () => (await statusOf(bobs.body.id)).status === 'held');
    });
  });

  describe('lifecycle', () => {
    it('created → completed moves the money by balanced entries and publishes its events keyed by wallet', async () => {
      const a = await balance(aliceEur);
      const b = await balance(bobEur);
      const done = await transfer(aliceEur, bobEur, 1_250);
      expect(done).toMatchObject({ status: 'completed', reason: null });
      expect([await balance(aliceEur), await balance(bobEur)]).toEqual([a - 1_250, b + 1_250]);
      const { rows: entries } = await rt.pool.query(
        'SELECT wallet_id, amount::float8 AS amount FROM ledger_entries WHERE transaction_id = $1 ORDER BY amount',
        [done.id],
      );
      expect(entries).toEqual([
        { wallet_id: aliceEur.id, amount: -1250 },
        { wallet_id: bobEur.id, amount: 1250 },
      ]);
      const { rows: events } = await rt.pool.query(
        `SELECT topic, partition_key, event->>'type' AS type FROM event_log
         WHERE event->>'subject' IN ($1, $2, $3) AND event->>'type' <> 'com.taskstream.fraud.score.updated' ORDER BY id`,
        [done.id, aliceEur.id, bobEur.id],
      );
      const mine = events;
      expect(mine.filter((e) => /transaction\./.test(e.type)).slice(-2)).toEqual([
        { topic: 'payment-events', partition_key: aliceEur.id, type: 'com.taskstream.transaction.created' },
        { topic: 'payment-events', partition_key: aliceEur.id, type: 'com.taskstream.transaction.completed' },
      ]);
      expect(mine.filter((e) => /balance\.updated/.test(e.type)).slice(-2)).toEqual(
        expect.arrayContaining([
          { topic: 'payment-events', partition_key: aliceEur.id, type: 'com.taskstream.balance.updated' },
          { topic: 'payment-events', partition_key: bobEur.id, type: 'com.taskstream.balance.updated' },
        ]),
      );
    });

    it('created → failed for funds: a reason, and no balance changes', async () => {
      const a = await balance(aliceEur);
      const failed = await transfer(aliceEur, bobEur, a + 1);
      expect(failed).toMatchObject({ status: 'failed', reason: 'insufficient_funds' });
      expect(await balance(aliceEur)).toBe(a);
    });

    it('completed → reversed by compensating entries; then nothing more', async () => {
      const a = await balance(aliceEur);
      const done = await transfer(aliceEur, bobEur, 500);
      const reversed = await post(`/api/transactions/${done.id}/reverse`, admin);
      expect([reversed.status, reversed.body.status]).toEqual([200, 'reversed']);
      expect(await balance(aliceEur)).toBe(a);
      const { rows } = await rt.pool.query(
        'SELECT posting, sum(amount)::float8 AS sum, count(*)::int AS n FROM ledger_entries WHERE transaction_id = $1 GROUP BY posting ORDER BY posting',
        [done.id],
      );
      expect(rows).toEqual([
        { posting: 'post', sum: 0, n: 2 },
        { posting: 'reverse', sum: 0, n: 2 },
      ]);
      for (const move of ['reverse', 'release', 'fail']) {
        const again = await post(
          `/api/transactions/${done.id}/${move}`,
          admin,
          move === 'fail' ? {} : undefined,
        );
        expect([again.status, again.body.error.code, again.body.error.details.from]).toEqual([
          409,
          'invalid_transition',
          'reversed',
        ]);
      }
    });

    it('a held transaction is released (completes) or failed (fraud_suspected); a timed-out hold fails', async () => {
      const a = await balance(aliceEur);
      const held = await transfer(aliceEur, bobEur, 300, 'hold');
      expect(held.status).toBe('held');
      // A second score for it changes nothing (a redelivery).
      await score(held, 'allow');
      const released = await post(`/api/transactions/${held.id}/release`, admin);
      expect([released.status, released.body.status]).toEqual([200, 'completed']);
      expect(await balance(aliceEur)).toBe(a - 300);

      const other = await transfer(aliceEur, bobEur, 300, 'hold');
      const failed = await post(`/api/transactions/${other.id}/fail`, admin, {});
      expect([failed.status, failed.body.status, failed.body.reason]).toEqual([
        200,
        'failed',
        'fraud_suspected',
      ]);
      expect(await balance(aliceEur)).toBe(a - 300);

      const third = await transfer(aliceEur, bobEur, 300, 'hold');
      await rt.pool.query(
        `UPDATE payment_transactions SET updated_at = now() - interval '2 days' WHERE id = $1`,
        [third.id],
      );
      await rt.ports.jobs.schedule({ name: 'payments-hold-expiry-now', dueTime: '0s' });
      await eventually(async () => (await statusOf(third.id)).status === 'failed');
      expect((await statusOf(third.id)).reason).toBe('fraud_suspected');
    });

    it('each refused move is a 409 naming both states, and changes nothing', async () => {
      const failed = await transfer(aliceEur, bobEur, 10 ** 12);
      const created = (
        await post('/api/transactions', alice, {
          from_wallet_id: aliceEur.id,
          to_wallet_id: bobEur.id,
          amount: 1,
        })
      ).body as Tx;
      const completed = await transfer(aliceEur, bobEur, 1);
      const refused: [Tx, string, string, string][] = [
        [created, 'reverse', 'created', 'reversed'],
        [created, 'release', 'created', 'completed'],
        [created, 'fail', 'created', 'failed'],
        [completed, 'release', 'completed', 'completed'],
        [completed, 'fail', 'completed', 'failed'],
        [failed, 'reverse', 'failed', 'reversed'],
        [failed, 'release', 'failed', 'completed'],
        [failed, 'fail', 'failed', 'failed'],
      ];
      for (const [tx, move, from, to] of refused) {
        const res = await post(`/api/transactions/${tx.id}/${move}`, admin, move === 'fail' ? {} : undefined);
        expect([move, from, res.status, res.body.error.code, res.body.error.details]).toEqual([
          move,
          from,
          409,
          'invalid_transition',
          { from, to },
        ]);
        expect((await statusOf(tx.id)).status).toBe(from);
      }
      // Bob spent what he got: reversing it would make his balance negative.
      const bobTotal = await balance(bobEur);
      const spent = await transfer(aliceEur, bobEur, 50);
      const bobs = await post('/api/transactions', bob, {
        from_wallet_id: bobEur.id,
        to_wallet_id: aliceEur.id,
        amount: bobTotal + 50,
      });
      await score(bobs.body, 'allow');
      await eventually(async () => (await statusOf(bobs.body.id)).status === 'completed');
      const reverse = await post(`/api/transactions/${spent.id}/reverse`, admin);
      expect([reverse.status, reverse.body.error.code]).toEqual([409, 'insufficient_funds']);
      expect((await statusOf(spent.id)).status).toBe('completed');
      // Only admins reverse, release and fail.
      for (const move of ['reverse', 'release', 'fail'])
        expect((await post(`/api/transactions/${completed.id}/${move}`, alice, {})).status).toBe(403);
    });

    it('a transfer stays in one currency; a withdrawal leaves to the payout wallet', async () => {
      const mismatch = await post('/api/transactions', alice, {
        from_wallet_id: aliceEur.id,
        to_wallet_id: aliceUsd.id,
        amount: 1,
      });
      expect([mismatch.status, mismatch.body.error.code]).toEqual([400, 'currency_mismatch']);
      const a = await balance(aliceEur);
      const created = await post('/api/transactions', alice, {
        kind: 'withdrawal',
        from_wallet_id: aliceEur.id,
        amount: 70,
      });
      expect([created.status, created.body.kind]).toEqual([201, 'withdrawal']);
      await score(created.body, 'allow');
      await eventually(async () => (await statusOf(created.body.id)).status === 'completed');
      expect(await balance(aliceEur)).toBe(a - 70);
      const { rows } = await rt.pool.query(
        `SELECT event->>'type' AS type, partition_key FROM event_log WHERE topic = 'withdrawal-events' AND event->>'subject' = $1 ORDER BY id`,
        [created.body.id],
      );
      expect(rows).toEqual([
        { type: 'com.taskstream.withdrawal.requested', partition_key: aliceEur.id },
        { type: 'com.taskstream.withdrawal.completed', partition_key: aliceEur.id },
      ]);
    });

    it('a body is a transfer (kind optional) or a withdrawal; each shape of neither is a 400 naming its field', async () => {
      const transfer = await post('/api/transactions', alice, {
        kind: 'transfer',
        from_wallet_id: aliceEur.id,
        to_wallet_id: bobEur.id,
        amount: 1,
      });
      expect([transfer.status, transfer.body.kind, transfer.body.to_wallet_id]).toEqual([
        201,
        'transfer',
        bobEur.id,
      ]);
      const refused: [unknown, string, string][] = [
        [{ from_wallet_id: aliceEur.id, amount: 1 }, 'to_wallet_id', 'a transfer needs to_wallet_id'],
        [
          { kind: 'transfer', from_wallet_id: aliceEur.id, to_wallet_id: aliceEur.id, amount: 1 },
          'to_wallet_id',
          'a transfer needs two different wallets',
        ],
        [
          { kind: 'withdrawal', from_wallet_id: aliceEur.id, to_wallet_id: bobEur.id, amount: 1 },
          'to_wallet_id',
          'a withdrawal goes out of the system: to_wallet_id is not allowed',
        ],
        [
          { kind: 'deposit', from_wallet_id: aliceEur.id, to_wallet_id: bobEur.id, amount: 1 },
          'kind',
          "kind is 'transfer' (the default) or 'withdrawal'",
        ],
        [
          { kind: 'withdrawal', from_wallet_id: aliceEur.id, amount: 1, currency: 'EUR' },
          '(body)',
          'unknown field(s): currency',
        ],
      ];
      const count = async () =>
        (
          await rt.pool.query(
            'SELECT count(*)::int AS n FROM payment_transactions WHERE from_wallet_id = $1',
            [aliceEur.id],
          )
        ).rows[0].n as number;
      const before = await count();
      for (const [body, path, message] of refused) {
        const res = await post('/api/transactions', alice, body);
        expect([res.status, res.body.error.code, res.body.error.message, res.body.error.details]).toEqual([
          400,
          'validation_failed',
          `invalid body: ${path}: ${message}`,
          [{ path, message }],
        ]);
      }
      expect(await count()).toBe(before);
    });
  });

  describe('who sees what', () => {
    it("another user's wallet or transaction is a 404, and never in their lists; admins see all", async () => {
      const tx = await transfer(aliceEur, bobEur, 5);
      expect((await get(`/api/transactions/${tx.id}`, eve)).status).toBe(404);
      expect((await get(`/api/wallets/${aliceEur.id}`, eve)).status).toBe(404);
      expect((await get(`/api/transactions/${tx.id}`, bob)).status).toBe(200);
      expect((await get(`/api/transactions/${tx.id}`, admin)).status).toBe(200);
      const eves = await get(`/api/transactions?wallet_id=${aliceEur.id}`, eve);
      expect([eves.status, eves.body.items]).toEqual([200, []]);
      expect((await get('/api/transactions', eve)).body.items).toEqual([]);
      expect((await get('/api/wallets', eve)).body.items.map((w: Wallet) => w.id)).toEqual([eveEur.id]);
      // Eve cannot pay from Alice's wallet, nor deposit.
      const stolen = await post('/api/transactions', eve, {
        from_wallet_id: aliceEur.id,
        to_wallet_id: eveEur.id,
        amount: 1,
      });
      expect(stolen.status).toBe(404);
      expect((await post(`/api/wallets/${eveEur.id}/deposits`, eve, { amount: 1 })).status).toBe(403);
      const all = await get('/api/transactions?limit=200', admin);
      expect(all.body.items.map((t: Tx) => t.id)).toContain(tx.id);
    });

    it('lists by wallet, status and time, newest first, page by page with an opaque cursor', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: Tx[]; next_cursor: string | null } } = await get(
          `/api/transactions?wallet_id=${aliceEur.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
          alice,
        );
        expect(page.status).toBe(200);
        seen.push(...page.body.items.map((t) => t.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      const { rows } = await rt.pool.query(
        'SELECT id FROM payment_transactions WHERE $1 IN (from_wallet_id, to_wallet_id) ORDER BY id DESC',
        [aliceEur.id],
      );
      expect(seen).toEqual(rows.map((r) => r.id));
      const failed = await get(`/api/transactions?status=failed&wallet_id=${aliceEur.id}`, alice);
      expect(failed.body.items.length).toBeGreaterThan(0);
      expect(failed.body.items.every((t: Tx) => t.status === 'failed')).toBe(true);
      const future = await get(
        `/api/transactions?created_after=${encodeURIComponent('2999-01-01T00:00:00Z')}`,
        alice,
      );
      expect(future.body.items).toEqual([]);
      const bad = await get('/api/transactions?cursor=bm90LW91cnM', alice);
      expect([bad.status, bad.body.error.details]).toEqual([400, { field: 'cursor' }]);
    });
  });

  it('the hourly job deletes Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS; such a key then makes a new transaction', async () => {
    const wallet = await openWallet(alice, 'EUR');
    await deposit(wallet, 1_000);
    const body = { kind: 'transfer', from_wallet_id: wallet.id, to_wallet_id: bobEur.id, amount: 1 };
    const [oldKey, recentKey] = [key(), key()];
    const first = await post('/api/transactions', alice, body, oldKey);
    const recent = await post('/api/transactions', alice, body, recentKey);
    expect([first.status, recent.status]).toEqual([201, 201]);
    await rt.pool.query(
      `UPDATE payment_idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`,
      [oldKey],
    );
    expect(await rt.ports.jobs.get(PAYMENTS_IDEMPOTENCY_PRUNE_JOB)).toMatchObject({ schedule: '@hourly' });
    await rt.ports.jobs.schedule({ name: `${PAYMENTS_IDEMPOTENCY_PRUNE_JOB}-now`, dueTime: '0s' });
    const left = async () =>
      (
        await rt.pool.query<{ key: string }>('SELECT key FROM payment_idempotency_keys WHERE key = ANY($1)', [
          [oldKey, recentKey],
        ])
      ).rows.map((r) => r.key);
    await eventually(async () => (await left()).length === 1, 15_000);
    expect(await left()).toEqual([recentKey]);
    // Within the TTL a retry gets the first answer; the expired key is a new request.
    expect((await post('/api/transactions', alice, body, recentKey)).body.id).toBe(recent.body.id);
    const again = await post('/api/transactions', alice, body, oldKey);
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);
  });

  it('the replayed event log gives the live balances and statuses; a tampered balance shows', async () => {
    await eventually(async () => {
      const { differences } = await replayLedger(rt.pool);
      return differences.length === 0;
    });
    const { replay } = await replayLedger(rt.pool);
    expect(replay.transactionEvents).toBeGreaterThan(20);
    // A balance changed behind the ledger's back (the CHECK still holds) is reported, twice over:
    // against the events and against the entries.
    await rt.pool.query('UPDATE wallets SET balance = balance + 1 WHERE id = $1', [bobEur.id]);
    const { differences } = await replayLedger(rt.pool);
    expect(differences.map((d) => [d.kind, d.id])).toEqual([
      ['balance', bobEur.id],
      ['entries', bobEur.id],
    ]);
    await rt.pool.query('UPDATE wallets SET balance = balance - 1 WHERE id = $1', [bobEur.id]);
  });

  it('the database refuses a negative user balance and unbalanced entries, whatever the code does', async () => {
    await expect(rt.pool.query('UPDATE wallets SET balance = -1 WHERE id = $1', [eveEur.id])).rejects.toThrow(
      /balance_not_negative/,
    );
    const { rows } = await rt.pool.query(
      "SELECT id FROM payment_transactions WHERE status = 'created' LIMIT 1",
    );
    await expect(
      rt.pool.query(
        `INSERT INTO ledger_entries (transaction_id, wallet_id, posting, amount) VALUES ($1, $2, 'post', 5)`,
        [rows[0].id, eveEur.id],
      ),
    ).rejects.toThrow(/do not balance/);
  });
});
