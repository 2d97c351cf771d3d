import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { conflict, HttpError, type Logger, type Pool } from '@taskstream/platform';
import webpush from 'web-push';
import {
  type PushResolver,
  type PushTarget,
  type PushTargetPolicy,
  PushTargetRefused,
  resolvePushTarget,
  systemResolver,
} from './push-target.js';
import { type ChannelSender, DeliveryError, type SendContext, type SendResult } from './types.js';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export interface PushOptions {
  pool: Pool;
  logger: Logger;
  subject: string;
  /** From configuration (production: a secret); both or neither. */
  publicKey?: string;
  privateKey?: string;
  /** Which endpoints a push may go to (checked at subscribe time and again at every send). */
  policy: PushTargetPolicy;
  /** Subscriptions one user may have (browsers and devices). */
  maxSubscriptionsPerUser: number;
  /** DNS for endpoint hosts; tests answer names themselves. */
  resolve?: PushResolver;
  /** Per request (ms). */
  timeoutMs?: number;
}

export interface PushSubscriptionInput {
  endpoint: string;
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

interface SubscriptionRow {
  endpoint: string;
  p256dh: string;
  auth: string;
}

const VAPID_SETTING = 'vapid_keys';
/** How long a push service keeps an undelivered message (s). */
const PUSH_TTL_SECONDS = 24 * 3600;

export interface PushChannel extends ChannelSender {
  vapidKeys(): Promise<VapidKeys>;
  subscribe(userId: string, subscription: PushSubscriptionInput): Promise<void>;
  unsubscribe(userId: string, endpoint: string): Promise<boolean>;
  /** Resolves and checks an endpoint; throws PushTargetRefused with the reason. */
  checkEndpoint(endpoint: string): Promise<PushTarget>;
}

/**
 * Web Push: web-push encrypts the message (RFC 8291, aes128gcm) and signs the VAPID JWT
 * (RFC 8292). The request goes out with node:https to the one address the endpoint's host resolved
 * to when it was checked (no second DNS answer in between), bounded in time, never following a
 * redirect. A 404 or 410 means the browser dropped the subscription: it is removed and not
 * counted as a failure.
 */
export function createPushChannel(options: PushOptions): PushChannel {
  const { pool, logger } = options;
  let keys: Promise<VapidKeys> | undefined;

  if (Boolean(options.publicKey) !== Boolean(options.privateKey)) {
    throw new Error('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together: set both or neither');
  }

  /** Configured keys, else the pair generated on the first start and kept in the database. */
  async function loadKeys(): Promise<VapidKeys> {
    if (options.publicKey && options.privateKey)
      return { publicKey: options.publicKey, privateKey: options.privateKey };
    const generated = webpush.generateVAPIDKeys();
    // Replicas starting together: the first insert wins and everyone reads it back.
    await pool.query(
      'INSERT INTO notification_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
      [VAPID_SETTING, JSON.stringify(generated)],
    );
    const { rows } = await pool.query<{ value: VapidKeys }>(
      'SELECT value FROM notification_settings WHERE key = $1',
      [VAPID_SETTING],
    );
    const stored = rows[0]!.value;
    if (stored.publicKey === generated.publicKey)
      logger.info('generated VAPID keys for Web Push (kept in the database)');
    return { publicKey: stored.publicKey, privateKey: stored.privateKey };
  }

  function vapidKeys() {
    keys ??= loadKeys().catch((err) => {
      keys = undefined;
      throw err;
    });
    return keys;
  }

  const resolve = options.resolve ?? systemResolver;
  const checkEndpoint = (endpoint: string) => resolvePushTarget(endpoint, options.policy, resolve);

  /** One push message to one endpoint: 'ok', 'gone', or a DeliveryError. */
  async function deliver(
    sub: SubscriptionRow,
    payload: string,
    vapid: VapidKeys,
    topic: string,
  ): Promise<'ok' | 'gone'> {
    let target: PushTarget;
    try {
      target = await checkEndpoint(sub.endpoint);
    } catch (err) {
      // A refused endpoint stays refused; a failed DNS lookup may pass.
      throw new DeliveryError((err as Error).message, err instanceof PushTargetRefused);
    }
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(
        { endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } },
        payload,
        {
          vapidDetails: {
            subject: options.subject,
            publicKey: vapid.publicKey,
            privateKey: vapid.privateKey,
          },
          contentEncoding: 'aes128gcm',
          TTL: PUSH_TTL_SECONDS,
          urgency: 'high',
          topic,
        },
      );
    } catch (err) {
      // Keys the browser never made (bad p256dh/auth) cannot be fixed by trying again.
      throw new DeliveryError(`push encryption: ${(err as Error).message}`, true);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    let response: { status: number; text: string };
    try {
      response = await post(target, headers, details.body, options.timeoutMs ?? 10_000);
    } catch (err) {
      throw new DeliveryError(`push service unreachable: ${(err as Error).message}`);
    }
    const { text } = response;
    if (response.status >= 200 && response.status < 300) return 'ok';
    if (response.status === 404 || response.status === 410) return 'gone';
    const reason = `push service answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    // Rate limits and server errors pass; a refused request (bad VAPID, too large) would be refused again.
    throw new DeliveryError(reason, !(response.status === 429 || response.status >= 500));
  }

  async function send(ctx: SendContext): Promise<SendResult> {
    const { client, reminder, content } = ctx;
    const served = new Set((ctx.detail.served as string[] | undefined) ?? []);
    const refused: Record<string, string> = {
      ...((ctx.detail.refused as Record<string, string> | undefined) ?? {}),
    };
    const { rows } = await client.query<SubscriptionRow>(
      'SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at',
      [reminder.user_id],
    );
    const pending = rows.filter((s) => !served.has(s.endpoint) && !(s.endpoint in refused));
    if (rows.length === 0 && served.size === 0) return { status: 'skipped', note: 'no push subscription' };

    const vapid = await vapidKeys();
    const payload = JSON.stringify(content.push);
    const topic = topicOf(ctx.firingId);
    const transient: string[] = [];
    let gone = 0;
    for (const sub of pending) {
      try {
        const outcome = await deliver(sub, payload, vapid, topic);
        if (outcome === 'gone') {
          await client.query('DELETE FROM push_subscriptions WHERE endpoint = $1', [sub.endpoint]);
          gone++;
          logger.info({ user_id: reminder.user_id }, 'push subscription gone; removed');
          continue;
        }
        served.add(sub.endpoint);
        await client.query('UPDATE push_subscriptions SET last_success_at = now() WHERE endpoint = $1', [
          sub.endpoint,
        ]);
      } catch (err) {
        const e = err as DeliveryError;
        if (e.permanent) refused[sub.endpoint] = e.message;
        else transient.push(e.message);
      }
    }
    const detail = { served: [...served], refused };
    if (transient.length > 0) throw new DeliveryError(transient.join('; '), false, detail);
    if (served.size > 0) {
      const notes = [
        gone ? `${gone} expired subscription(s) removed` : '',
        Object.keys(refused).length ? `${Object.keys(refused).length} refused` : '',
      ]
        .filter(Boolean)
        .join(', ');
      return { status: 'sent', detail, note: notes || undefined };
    }
    if (Object.keys(refused).length > 0)
      throw new DeliveryError(Object.values(refused).join('; '), true, detail);
    return { status: 'skipped', note: 'no live push subscription (expired ones removed)', detail };
  }

  return {
    send,
    vapidKeys,
    checkEndpoint,
    async subscribe(userId, subscription) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // One user's subscribes in a row, so that concurrent ones cannot pass the limit together.
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('push_subscriptions:' || $1, 0))", [
          userId,
        ]);
        // The browser renews its keys on the same endpoint; another user's endpoint is not taken over.
        const { rows } = await client.query<{ inserted: boolean }>(
          `INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, expiration_time)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
             expiration_time = EXCLUDED.expiration_time
           WHERE push_subscriptions.user_id = EXCLUDED.user_id
           RETURNING (xmax = 0) AS inserted`,
          [
            subscription.endpoint,
            userId,
            subscription.keys.p256dh,
            subscription.keys.auth,
            subscription.expirationTime ?? null,
          ],
        );
        if (rows.length === 0) throw conflict('this push endpoint is subscribed by another account');
        if (rows[0]!.inserted) {
          const count = await client.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = $1',
            [userId],
          );
          if (count.rows[0]!.n > options.maxSubscriptionsPerUser)
            throw new HttpError(
              409,
              'too_many_subscriptions',
              `at most ${options.maxSubscriptionsPerUser} push subscriptions per account: unsubscribe one first`,
            );
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async unsubscribe(userId, endpoint) {
      const { rowCount } = await pool.query(
        'DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2',
        [endpoint, userId],
      );
      return (rowCount ?? 0) > 0;
    },
  };
}

/** The Topic header (coalesces undelivered updates of one firing): ≤ 32 URL-safe base64 chars. */
function topicOf(firingId: string): string {
  return createHash('sha256').update(firingId).digest('base64url').slice(0, 32);
}

/**
 * POSTs to the checked address: the socket's lookup answers with it whatever DNS says now, while
 * the Host header and TLS (SNI and the certificate check) keep the endpoint's host name.
 */
async function post(
  target: PushTarget,
  headers: Record<string, string>,
  body: Buffer | null | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  const pinned: LookupFunction = (_hostname, opts, callback) => {
    if (opts.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target.url,
      { method: 'POST', headers, lookup: pinned, agent: false, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          // Only the start is kept for the reason; a service that talks on is cut off.
          if (text.length < 1000) text += chunk;
          else res.destroy();
        });
        res.on('close', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}
