import { createHash } from 'node:crypto';
import type { Logger, Pool } from '@taskstream/platform';
import webpush from 'web-push';
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
  /** Only https push endpoints (browsers' push services are all https); off in development and tests. */
  httpsOnly: boolean;
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
  endpointAllowed(endpoint: string): boolean;
}

/**
 * Web Push: web-push encrypts the message (RFC 8291, aes128gcm) and signs the VAPID JWT
 * (RFC 8292); the request goes out with fetch, bounded in time. A 404 or 410 means the browser
 * dropped the subscription: it is removed and not counted as a failure.
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

  function endpointAllowed(endpoint: string) {
    try {
      const url = new URL(endpoint);
      return url.protocol === 'https:' || (!options.httpsOnly && url.protocol === 'http:');
    } catch {
      return false;
    }
  }

  /** One push message to one endpoint: 'ok', 'gone', or a DeliveryError. */
  async function deliver(
    sub: SubscriptionRow,
    payload: string,
    vapid: VapidKeys,
    topic: string,
  ): Promise<'ok' | 'gone'> {
    if (!endpointAllowed(sub.endpoint)) throw new DeliveryError('push endpoint must be https', true);
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
    for (const [name, value] of Object.entries(details.headers)) {
      if (name.toLowerCase() !== 'content-length') headers[name] = String(value);
    }
    let response: Response;
    try {
      response = await fetch(details.endpoint, {
        method: 'POST',
        headers,
        body: details.body ? new Uint8Array(details.body) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new DeliveryError(`push service unreachable: ${(err as Error).message}`);
    }
    const text = await response.text().catch(() => '');
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
    endpointAllowed,
    async subscribe(userId, subscription) {
      await pool.query(
        `INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, expiration_time)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh,
           auth = EXCLUDED.auth, expiration_time = EXCLUDED.expiration_time`,
        [
          subscription.endpoint,
          userId,
          subscription.keys.p256dh,
          subscription.keys.auth,
          subscription.expirationTime ?? null,
        ],
      );
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
