import { randomUUID } from 'node:crypto';
import { createFraudService } from '@taskstream/fraud';
import { ALL_TRANSACTIONS, createPaymentsService } from '@taskstream/payments';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { Probe, SseProbe } from '@taskstream/sync/test-support';

// The payments live tracker (ADR 0017 "Live tracker", ADR 0019) with fraud scoring, as the host
// runs them: transfers are scored and settled through `payment-events`, and the tracker follows
// them over WebSocket and Server-Sent Events.

interface Wallet {
  id: string;
}
interface Tx {
  id: string;
  status: string;
}
type Message = { type: string; sequence: number; event?: { id: string; data: { transaction: Tx } } };

/** What a tracker connection saw: `<transaction id>:<status>` per event, in order. */
const seen = (messages: unknown[]) =>
  (messages as Message[]).flatMap((m) =>
    m.type === 'event' && m.event
      ? [`${m.event.data.transaction.id}:${m.event.data.transaction.status}`]
      : [],
  );

describe('payments live tracker', () => {
  let rt: TestRuntime;
  let admin: string;
  let alice: string;
  let bob: string;
  let eve: string;
  let aliceEur: Wallet;
  let aliceSpare: Wallet;
  let bobEur: Wallet;
  let eveEur: Wallet;
  let eveSpare: Wallet;
  /** An admin's connection that stays open: a transfer is done once it saw the final event. */
  let everything: Probe;
  /** How to end each connection a test opened. */
  const closers: (() => unknown)[] = [];

  const post = (path: string, token: string, body?: unknown) =>
    rt.request('POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
  const ws = (token: string, query: Record<string, string> = {}, since?: number) => {
    const probe = new Probe(rt.url, { token, query, path: '/ws/transactions', since });
    closers.push(() => probe.close());
    return probe;
  };
  const sse = (query = '', headers: Record<string, string> = {}) => {
    const probe = new SseProbe(`${rt.url}/api/transactions/stream${query}`, headers);
    closers.push(() => probe.destroy());
    return probe;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const openWallet = async (token: string) => (await post('/api/wallets', token, { currency: 'EUR' })).body;

  /** A transfer, followed until the tracker delivered its settled status (created → completed | failed). */
  async function transfer(token: string, from: Wallet, to: Wallet, amount: number): Promise<Tx> {
    const created = await post('/api/transactions', token, {
      from_wallet_id: from.id,
      to_wallet_id: to.id,
      amount,
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await eventually(async () =>
      seen(everything.messages).some((s) => s === `${id}:completed` || s === `${id}:failed`),
    );
    return (await rt.request('GET', `/api/transactions/${id}`, { token })).body;
  }

  beforeAll(async () => {
    // Every score allows: transfers complete, or fail for funds.
    rt = await startTestRuntime([createPaymentsService, createFraudService], {
      env: { FRAUD_HOLD_THRESHOLD: '0.99', SYNC_HEARTBEAT_MS: '500' },
    });
    admin = await rt.auth.sign({ userId: randomUUID(), role: 'admin' });
    alice = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    bob = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    eve = await rt.auth.sign({ userId: randomUUID(), role: 'user' });
    aliceEur = await openWallet(alice);
    aliceSpare = await openWallet(alice);
    bobEur = await openWallet(bob);
    eveEur = await openWallet(eve);
    eveSpare = await openWallet(eve);
    for (const wallet of [aliceEur, aliceSpare, eveEur])
      expect((await post(`/api/wallets/${wallet.id}/deposits`, admin, { amount: 100_000 })).status).toBe(201);
    // The tracker stores the deposits' events after they commit: the tests' connections start
    // once all six are stored, so a deposit's `completed` does not arrive as a live event (it is
    // the user's own, but not what the tests count).
    await eventually(
      async () =>
        (
          await rt.pool.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM tracker_history WHERE user_id = $1',
            [ALL_TRANSACTIONS],
          )
        ).rows[0]!.n === 6,
    );
    everything = new Probe(rt.url, { token: admin, path: '/ws/transactions' });
    await everything.live();
  });
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });
  afterAll(async () => {
    everything?.close();
    await rt?.close();
  });

  it("never shows a user another user's transactions, over WebSocket or SSE; admins see all", async () => {
    const aliceWs = ws(alice);
    const eveWs = ws(eve);
    const adminWs = ws(admin);
    const bobSse = sse('', bearer(bob));
    const ticket = (await post('/api/transactions/stream/ticket', eve)).body.ticket as string;
    const eveSse = sse(`?ticket=${ticket}`);
    await Promise.all([aliceWs.live(), eveWs.live(), adminWs.live(), bobSse.live(), eveSse.live()]);

    const paid = await transfer(alice, aliceEur, bobEur, 1_000);
    const own = await transfer(eve, eveEur, eveSpare, 500);
    expect([paid.status, own.status]).toEqual(['completed', 'completed']);
    const paidSteps = [`${paid.id}:created`, `${paid.id}:completed`];
    const ownSteps = [`${own.id}:created`, `${own.id}:completed`];
    await eventually(async () => seen(eveSse.messages).length === 2 && seen(bobSse.messages).length === 2);
    await adminWs.waitForEvents(4);
    await new Promise((r) => setTimeout(r, 200)); // anything stray would have arrived

    expect(seen(aliceWs.messages)).toEqual(paidSteps);
    expect(seen(bobSse.messages)).toEqual(paidSteps);
    expect(seen(eveWs.messages)).toEqual(ownSteps);
    expect(seen(eveSse.messages)).toEqual(ownSteps);
    expect(seen(adminWs.messages).sort()).toEqual([...paidSteps, ...ownSteps].sort());

    // Following a wallet or a transaction that is not yours is the REST API's 404 (4404 on a socket).
    const spying = ws(alice, { wallet_id: eveEur.id });
    expect((await spying.closed).code).toBe(4404);
    const spyingTx = ws(alice, { transaction_id: own.id });
    expect((await spyingTx.closed).code).toBe(4404);
    const spyingSse = sse(`?wallet_id=${eveEur.id}`, bearer(bob));
    expect((await spyingSse.refusal()).status).toBe(404);
    const spyingTxSse = sse(`?transaction_id=${own.id}`, bearer(bob));
    expect((await spyingTxSse.refusal()).status).toBe(404);
    // Admins may follow anyone's wallet; a filter that is not a filter is a 400.
    const adminOnEve = ws(admin, { wallet_id: eveEur.id });
    await adminOnEve.live();
    expect((await sse('?status=lost', bearer(alice)).refusal()).status).toBe(400);
    expect((await sse('', {}).refusal()).status).toBe(401);
  });

  it('resumes an SSE stream after Last-Event-ID with exactly the missed events, in order', async () => {
    const before = sse('', bearer(alice));
    await before.live();
    const position = Number(before.frames.find((f) => f.event === 'hello')?.id);
    before.destroy();

    const missed: string[] = [];
    for (const amount of [100, 200, 300]) {
      const tx = await transfer(alice, aliceEur, bobEur, amount);
      missed.push(`${tx.id}:created`, `${tx.id}:completed`);
    }
    const tooMuch = await transfer(alice, aliceSpare, bobEur, 1_000_000);
    expect(tooMuch.status).toBe('failed');
    missed.push(`${tooMuch.id}:created`, `${tooMuch.id}:failed`);

    const resumed = sse('', { ...bearer(alice), 'last-event-id': String(position) });
    await resumed.live();
    const ids = Array.from({ length: missed.length }, (_, i) => String(position + i + 1));
    expect(resumed.frames.map((f) => [f.event, f.id])).toEqual([
      ...ids.map((id) => ['event', id]),
      ['hello', ids.at(-1)],
    ]);
    expect(seen(resumed.messages)).toEqual(missed);

    // The same through a ticket (an EventSource): the position travels as Last-Event-ID too.
    const ticket = (await post('/api/transactions/stream/ticket', alice)).body.ticket as string;
    const viaTicket = sse(`?ticket=${ticket}`, { 'last-event-id': String(position + 4) });
    await viaTicket.live();
    expect(seen(viaTicket.messages)).toEqual(missed.slice(4));
    // A ticket opens one stream, once.
    expect((await sse(`?ticket=${ticket}`).refusal()).status).toBe(401);
  });

  it('filters by transaction id, wallet id and status', async () => {
    const first = await post('/api/transactions', alice, {
      from_wallet_id: aliceEur.id,
      to_wallet_id: bobEur.id,
      amount: 10,
    });
    const byTransaction = ws(alice, { transaction_id: first.body.id });
    const byWallet = ws(alice, { wallet_id: aliceSpare.id });
    const byStatus = ws(alice, { status: 'failed' });
    const byStatusSse = sse('?status=failed,held', bearer(alice));
    const byBothSse = sse(`?wallet_id=${aliceSpare.id}&status=completed`, bearer(alice));
    await Promise.all([
      byTransaction.live(),
      byWallet.live(),
      byStatus.live(),
      byStatusSse.live(),
      byBothSse.live(),
    ]);

    const fromSpare = await transfer(alice, aliceSpare, bobEur, 20);
    const failed = await transfer(alice, aliceEur, bobEur, 10_000_000);
    await eventually(
      async () => seen(byStatusSse.messages).length === 1 && seen(byBothSse.messages).length === 1,
    );
    await byStatus.waitForEvents(1);
    await byWallet.waitForEvents(2);
    await eventually(async () => seen(everything.messages).includes(`${first.body.id}:completed`));
    await new Promise((r) => setTimeout(r, 200));

    expect(seen(byWallet.messages)).toEqual([`${fromSpare.id}:created`, `${fromSpare.id}:completed`]);
    expect(seen(byStatus.messages)).toEqual([`${failed.id}:failed`]);
    expect(seen(byStatusSse.messages)).toEqual([`${failed.id}:failed`]);
    expect(seen(byBothSse.messages)).toEqual([`${fromSpare.id}:completed`]);
    // Subscribed after `first` was created: its completion at least, nothing of the others.
    expect(seen(byTransaction.messages).every((s) => s.startsWith(first.body.id))).toBe(true);
    expect(seen(byTransaction.messages)).toContain(`${first.body.id}:completed`);
  });

  it("hands what another replica stored to this replica's connections (NOTIFY), and only to their key", async () => {
    const carolId = randomUUID();
    const carol = ws(await rt.auth.sign({ userId: carolId, role: 'user' }));
    const dave = ws(await rt.auth.sign({ userId: randomUUID(), role: 'user' }));
    await Promise.all([carol.live(), dave.live()]);
    // As a replica that consumed an event of Carol's would announce it after storing it.
    const event = (everything.messages as Message[]).find((m) => m.type === 'event')!.event!;
    await rt.pool.query('SELECT pg_notify($1, $2)', [
      'payments_tracker',
      JSON.stringify({ keys: [[carolId, 1]], event }),
    ]);
    await carol.waitForEvents(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(carol.messages.filter((m) => m.type === 'event').map((m) => m.sequence)).toEqual([1]);
    expect(dave.events).toEqual([]);
  });
});
