import { randomUUID } from 'node:crypto';
import { EventSchemas } from '@taskstream/contracts';
import { createAuth } from '@taskstream/platform';
import { appCaller, eventually } from '../../../scripts/stack/e2e-client.js';
import { endOffsets, readTopic, saramaPartition } from '../../../scripts/stack/kafka.js';
import { readStackEnv, stackAppUrls } from '../../../scripts/stack/sidecar.js';

/**
 * Payments and fraud as `bash scripts/stack/stack.sh up` runs them, each beside its own daprd:
 * a transfer is scored by fraud and settled by payments through Kafka, and its events are on
 * `payment-events` keyed by the debited wallet.
 */
const env = readStackEnv();
const urls = stackAppUrls(env);
const call = appCaller(urls);

/**
 * `GET /api/transactions/stream` on payments, read raw: the `<transaction id>:<status>` of each
 * tracker event as it arrives (the tracker's frames are `data: {"type":"event",...}` lines).
 */
function followTracker(token: string) {
  const seen: string[] = [];
  const aborted = new AbortController();
  const done = (async () => {
    const res = await fetch(`${urls.payments}/api/transactions/stream`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: aborted.signal,
    });
    expect(res.status).toBe(200);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('data: ')) continue;
        const message = JSON.parse(line.slice(6));
        if (message.type === 'event')
          seen.push(`${message.event.data.transaction.id}:${message.event.data.transaction.status}`);
        if (message.type === 'hello') seen.push('hello');
      }
    }
  })().catch(() => undefined);
  return { seen, stop: () => aborted.abort(), done };
}
const TOPIC = 'payment-events';
const auth = createAuth({
  secret: env.JWT_SECRET,
  issuer: 'taskstream',
  audience: 'taskstream',
  ttlSeconds: 3600,
});

describe('payments on the stack', () => {
  test("a transfer completes through fraud scoring, its events are on Kafka's payment-events keyed by the wallet, and the tracker streams them", async () => {
    await eventually('payments and fraud ready', async () =>
      (await call('payments', 'GET', '/readyz')).status === 200 &&
      (await call('fraud', 'GET', '/readyz')).status === 200
        ? true
        : undefined,
    );
    const admin = await auth.sign({ userId: randomUUID(), role: 'admin' });
    const alice = await auth.sign({ userId: randomUUID(), role: 'user' });
    const create = (token: string, path: string, body: unknown) =>
      call('payments', 'POST', path, { token, body, headers: { 'idempotency-key': randomUUID() } });
    const from = (await create(alice, '/api/wallets', { currency: 'EUR' })).body;
    const to = (await create(alice, '/api/wallets', { currency: 'EUR' })).body;
    expect((await create(admin, `/api/wallets/${from.id}/deposits`, { amount: 10_000 })).status).toBe(201);

    // The live tracker, served by payments from its consumer of payment-events (through daprd).
    const tracker = followTracker(alice);
    await eventually('the tracker stream open', async () =>
      tracker.seen.includes('hello') ? true : undefined,
    );

    const before = await endOffsets(TOPIC, { env });
    const created = await create(alice, '/api/transactions', {
      from_wallet_id: from.id,
      to_wallet_id: to.id,
      amount: 2_500,
    });
    expect([created.status, created.body.status]).toEqual([201, 'created']);
    const done = await eventually(
      'the transfer settled',
      async () => {
        const res = await call('payments', 'GET', `/api/transactions/${created.body.id}`, { token: alice });
        return res.body.status === 'created' ? undefined : res.body;
      },
      120_000,
    );
    expect(done).toMatchObject({ status: 'completed', fraud_score: expect.any(Number) });

    const steps = [`${created.body.id}:created`, `${created.body.id}:completed`];
    const tracked = await eventually(
      'the tracker delivered the transfer',
      async () => (tracker.seen.includes(steps[1]) ? tracker.seen : undefined),
      60_000,
    );
    tracker.stop();
    expect(tracked.filter((s) => s.startsWith(created.body.id))).toEqual(steps);

    const partitions = before.size || 4;
    const partition = saramaPartition(from.id, partitions);
    const records = await eventually(
      'the transaction events on Kafka',
      async () => {
        const read = await readTopic(TOPIC, {
          env,
          partition,
          offset: before.get(partition) ?? 0,
          max: 50,
          timeoutMs: 8_000,
        });
        const mine = read.filter((r) => JSON.parse(r.value).subject === created.body.id);
        return mine.length >= 3 ? mine : undefined;
      },
      120_000,
    );
    expect(records.map((r) => [r.key, JSON.parse(r.value).type])).toEqual([
      [from.id, 'com.taskstream.transaction.created'],
      [from.id, 'com.taskstream.fraud.score.updated'],
      [from.id, 'com.taskstream.transaction.completed'],
    ]);
    for (const record of records) {
      const event = JSON.parse(record.value);
      const name = event.type.replace('com.taskstream.', '') as keyof typeof EventSchemas;
      expect(EventSchemas[name].safeParse(event).error?.issues ?? []).toEqual([]);
    }
  }, 300_000);
});
