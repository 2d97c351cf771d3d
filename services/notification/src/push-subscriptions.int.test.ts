import { createECDH, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:net';
import { eventually, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { v7 as uuidv7 } from 'uuid';
import type { ResolvedAddress } from './channels/push-target.js';
import { createNotificationService } from './index.js';
import { reminderScheduled, startPushService, type TestPushService } from './test-support/index.js';

/**
 * Web Push endpoints come from the user, so the server must not be made to send requests into its
 * own network. These tests never send a byte to a non-loopback address: names are answered by the
 * resolver given to the service, and the only listeners are on loopback, counting connections.
 */

/** Names the service resolves through the test: fixed answers, or the system's for the rest. */
const answers = new Map<string, () => ResolvedAddress[]>();
const lookups: string[] = [];
async function resolver(hostname: string): Promise<ResolvedAddress[]> {
  lookups.push(hostname);
  const answer = answers.get(hostname);
  if (answer) return answer();
  return (await lookup(hostname, { all: true })).map((a) => ({
    address: a.address,
    family: a.family as 4 | 6,
  }));
}
const v4 = (address: string): ResolvedAddress[] => [{ address, family: 4 }];

/** A TCP listener on loopback that counts connections and drops them. */
async function listener(host: string): Promise<{ port: number; connections: number; server: Server }> {
  const server = createServer();
  const state = { port: 0, connections: 0, server };
  server.on('connection', (socket) => {
    state.connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  state.port = (server.address() as { port: number }).port;
  return state;
}

const browserKeys = () => ({
  p256dh: createECDH('prime256v1').generateKeys().toString('base64url'),
  auth: randomBytes(16).toString('base64url'),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

const factory = (deps: Parameters<typeof createNotificationService>[0]) =>
  createNotificationService(deps, { pushResolver: resolver, pushTimeoutMs: 2000 });

let ipv4: Awaited<ReturnType<typeof listener>>;
let ipv6: Awaited<ReturnType<typeof listener>> | undefined;
const connections = () => ipv4.connections + (ipv6?.connections ?? 0);

beforeAll(async () => {
  ipv4 = await listener('127.0.0.1');
  ipv6 = await listener('::1').catch(() => undefined); // no IPv6 loopback on this machine
  answers.set('loopback.test', () => v4('127.0.0.1'));
  answers.set('internal.test', () => v4('10.0.0.1'));
  answers.set('metadata.test', () => v4('169.254.169.254'));
  answers.set('cgnat.test', () => v4('100.64.0.1'));
  answers.set('ula.test', () => [{ address: 'fd00::1', family: 6 }]);
  // One private address among public ones is enough to refuse.
  answers.set('mixed.test', () => [...v4('8.8.8.8'), ...v4('10.0.0.1')]);
});

afterAll(async () => {
  ipv4?.server.close();
  ipv6?.server.close();
});

async function newUser(rt: TestRuntime) {
  const userId = uuidv7();
  const email = `u-${userId.slice(-12)}@example.test`;
  const token = await rt.auth.sign({ userId, role: 'user', email, name: 'Ada' });
  return { userId, email, token };
}

const subscribe = (rt: TestRuntime, token: string, endpoint: string) =>
  rt.request('POST', '/api/push/subscriptions', { token, body: { endpoint, keys: browserKeys() } });

async function subscriptionCount(rt: TestRuntime, userId: string) {
  const { rows } = await rt.pool.query(
    'SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1',
    [userId],
  );
  return rows[0].n as number;
}

/** Fires a push reminder for the user and returns the push channel's first delivery row. */
async function firePush(rt: TestRuntime, userId: string) {
  const task = {
    id: uuidv7(),
    user_id: userId,
    title: 'Renew the passport',
    due_date: inSeconds(3600),
    time_zone: 'UTC',
    version: 1,
    sequence: 1,
  };
  await rt.ports.bus.publish([reminderScheduled(task, inSeconds(0.5), ['push'])]);
  return eventually(async () => {
    const { rows } = await rt.pool.query(
      `SELECT status, error FROM deliveries WHERE reminder_id = $1 AND channel = 'push' ORDER BY attempt`,
      [`${task.id}.0`],
    );
    return rows.length > 0 && (rows[0] as { status: string; error: string | null });
  }, 15000);
}

describe('Web Push endpoints (no loopback allowed, as in production)', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([factory]);
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('refuses endpoints inside the network at subscribe time and connects to none of them', async () => {
    const user = await newUser(rt);
    const p4 = ipv4.port;
    const p6 = ipv6?.port ?? p4;
    const endpoints = [
      `https://127.0.0.1:${p4}/push/a`,
      `http://127.0.0.1:${p4}/push/a`,
      `https://[::1]:${p6}/push/a`,
      `https://[::ffff:127.0.0.1]:${p4}/push/a`,
      `https://localhost:${p4}/push/a`,
      `https://loopback.test:${p4}/push/a`,
      `https://0.0.0.0:${p4}/push/a`,
      'https://10.0.0.1/push/a',
      'https://192.168.1.1/push/a',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::ffff:169.254.169.254]/latest/meta-data/',
      'https://100.64.0.1/push/a',
      'https://[fd00::1]/push/a',
      'https://[fe80::1]/push/a',
      'https://224.0.0.1/push/a',
      'https://internal.test/push/a',
      'https://metadata.test/latest/meta-data/',
      'https://cgnat.test/push/a',
      'https://ula.test/push/a',
      'https://mixed.test/push/a',
    ];
    for (const endpoint of endpoints) {
      const res = await subscribe(rt, user.token, endpoint);
      expect({ endpoint, status: res.status }).toEqual({ endpoint, status: 400 });
      expect(res.body.error.details[0]).toMatchObject({ path: 'endpoint' });
      expect(res.body.error.message).toMatch(/not a public address|https/);
    }
    expect(await subscriptionCount(rt, user.userId)).toBe(0);
    await sleep(200);
    expect(connections()).toBe(0);
  });

  it('checks again at send time, against the address it connects to (stored rows, DNS rebinding)', async () => {
    const user = await newUser(rt);
    // A name that resolved to a public address when subscribed, then to loopback.
    let rebound = false;
    answers.set('rebind.test', () => (rebound ? v4('127.0.0.1') : v4('8.8.8.8')));
    const res = await subscribe(rt, user.token, `https://rebind.test:${ipv4.port}/push/r`);
    expect(res.status).toBe(201);
    rebound = true;
    // Rows that got in before these checks existed.
    const stored = [
      `https://127.0.0.1:${ipv4.port}/push/s`,
      `https://loopback.test:${ipv4.port}/push/s`,
      ...(ipv6 ? [`https://[::1]:${ipv6.port}/push/s`] : []),
    ];
    for (const endpoint of stored) {
      const keys = browserKeys();
      await rt.pool.query(
        'INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth) VALUES ($1, $2, $3, $4)',
        [endpoint, user.userId, keys.p256dh, keys.auth],
      );
    }
    const delivery = await firePush(rt, user.userId);
    expect(delivery.status).toMatch(/failed|dead/);
    expect(delivery.error).toMatch(/not a public address/);
    await sleep(300);
    expect(connections()).toBe(0);
  });
});

describe('Web Push endpoints in production', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    answers.set('fcm.googleapis.com', () => v4('8.8.8.8'));
    answers.set('push.example.test', () => v4('8.8.4.4'));
    rt = await startTestRuntime([factory], { env: { NODE_ENV: 'production' } });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('are https on the known push services unless PUSH_ALLOWED_HOSTS says otherwise', async () => {
    const user = await newUser(rt);
    expect((await subscribe(rt, user.token, 'https://fcm.googleapis.com/fcm/send/abc')).status).toBe(201);
    const http = await subscribe(rt, user.token, 'http://fcm.googleapis.com/fcm/send/def');
    expect(http.status).toBe(400);
    expect(http.body.error.message).toMatch(/https/);
    const other = await subscribe(rt, user.token, 'https://push.example.test/abc');
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(/not an allowed push service/);
    expect(await subscriptionCount(rt, user.userId)).toBe(1);
  });
});

describe('Web Push subscriptions per user (loopback allowed, as in development)', () => {
  let rt: TestRuntime;
  let pushService: TestPushService;
  beforeAll(async () => {
    pushService = await startPushService();
    rt = await startTestRuntime([factory], {
      env: { PUSH_ALLOW_LOOPBACK: 'true', PUSH_MAX_SUBSCRIPTIONS_PER_USER: '3' },
    });
  });
  afterAll(async () => {
    await rt?.close();
    await pushService?.close();
  });

  it('are limited to PUSH_MAX_SUBSCRIPTIONS_PER_USER; renewing one is not a new one', async () => {
    const user = await newUser(rt);
    const browsers = [1, 2, 3, 4].map(() => pushService.subscribe());
    for (const browser of browsers.slice(0, 3)) {
      const res = await rt.request('POST', '/api/push/subscriptions', {
        token: user.token,
        body: browser.json,
      });
      expect(res.status).toBe(201);
    }
    const fourth = await rt.request('POST', '/api/push/subscriptions', {
      token: user.token,
      body: browsers[3]!.json,
    });
    expect(fourth.status).toBe(409);
    expect(fourth.body.error.message).toMatch(/at most 3/);
    const again = await rt.request('POST', '/api/push/subscriptions', {
      token: user.token,
      body: browsers[0]!.json,
    });
    expect(again.status).toBe(201);
    // Concurrent subscribes cannot pass the limit together.
    const other = await newUser(rt);
    const many = [1, 2, 3, 4, 5, 6].map(() => pushService.subscribe());
    const statuses = await Promise.all(
      many.map(
        async (b) =>
          (await rt.request('POST', '/api/push/subscriptions', { token: other.token, body: b.json })).status,
      ),
    );
    expect(statuses.sort()).toEqual([201, 201, 201, 409, 409, 409]);
    expect(await subscriptionCount(rt, user.userId)).toBe(3);
    expect(await subscriptionCount(rt, other.userId)).toBe(3);
  });

  it("are not taken over: another user's endpoint stays theirs", async () => {
    const owner = await newUser(rt);
    const intruder = await newUser(rt);
    const browser = pushService.subscribe();
    expect(
      (await rt.request('POST', '/api/push/subscriptions', { token: owner.token, body: browser.json }))
        .status,
    ).toBe(201);
    const taken = await rt.request('POST', '/api/push/subscriptions', {
      token: intruder.token,
      body: { ...browser.json, keys: browserKeys() },
    });
    expect(taken.status).toBe(409);
    const { rows } = await rt.pool.query(
      'SELECT user_id, p256dh FROM push_subscriptions WHERE endpoint = $1',
      [browser.json.endpoint],
    );
    expect(rows).toEqual([{ user_id: owner.userId, p256dh: browser.json.keys.p256dh }]);
  });

  it('resolve the host once per send and connect to that address', async () => {
    const user = await newUser(rt);
    const browser = pushService.subscribe();
    const port = new URL(pushService.origin).port;
    // Any answer after the first two points at another loopback address where nothing listens.
    let calls = 0;
    answers.set('pinned.test', () => v4(++calls <= 2 ? '127.0.0.1' : '127.0.0.2'));
    const endpoint = browser.json.endpoint.replace(`127.0.0.1:${port}`, `pinned.test:${port}`);
    const res = await rt.request('POST', '/api/push/subscriptions', {
      token: user.token,
      body: { ...browser.json, endpoint },
    });
    expect(res.status).toBe(201);
    expect(calls).toBe(1);
    const endpointId = decodeURIComponent(endpoint.split('/push/')[1]!);
    await firePush(rt, user.userId);
    // The request reached the push service at the checked address (which answers 400 here: the
    // VAPID audience names pinned.test, not the address it listens on).
    expect(pushService.received.filter((r) => r.endpointId === endpointId)).toHaveLength(1);
    expect(calls).toBe(2);
  });
});
