/** Web Push opt-in: the service worker, the browser's subscription, and the server's copy of it. */
import { type Api, ApiError } from './api.js';

export type PushStatus = 'unsupported' | 'denied' | 'subscribed' | 'unsubscribed';

export function pushSupported(): boolean {
  return (
    typeof window !== 'undefined' &&
    'serviceWorker' in navigator &&
    'PushManager' in window &&
    'Notification' in window
  );
}

/** The VAPID key is base64url; the browser wants its bytes. */
export function applicationServerKey(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

async function currentSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return (await registration?.pushManager.getSubscription()) ?? null;
}

export async function pushStatus(): Promise<PushStatus> {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  return (await currentSubscription()) ? 'subscribed' : 'unsubscribed';
}

/**
 * The browser could not get a subscription from its push service. Chrome refuses at once in a
 * private window ("Registration failed - permission denied", even with permission granted) and,
 * in a normal profile that cannot reach its push service, never settles at all: hence the timeout.
 */
class PushServiceError extends Error {
  constructor(cause: string) {
    super(
      `This browser could not set up push messages (${cause}). Private windows, and browsers that cannot reach their push service, cannot receive push reminders; reminders still reach you in the app and by email.`,
    );
    this.name = 'PushServiceError';
  }
}

/** Long enough for a push service on a slow network, short enough that the button does not hang. */
const SUBSCRIBE_TIMEOUT_MS = 20_000;

async function subscribeWithin(
  registration: ServiceWorkerRegistration,
  key: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
): Promise<PushSubscription> {
  const subscribing = registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: key,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // The user is told it failed: a subscription that still arrives is dropped, so the browser
      // never holds one the server has not heard of (the screen would say "on" and nothing came).
      subscribing.then((late) => late.unsubscribe()).catch(() => undefined);
      reject(new PushServiceError(`no answer from its push service in ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      subscribing.catch((err) => {
        throw new PushServiceError(err instanceof Error ? err.message : String(err));
      }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asks for permission, subscribes with the server's VAPID key and registers the subscription. */
export async function subscribePush(api: Api): Promise<void> {
  const { public_key } = await api.request<{ public_key: string }>('GET', '/api/push/vapid-public-key');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications are not allowed for this site');
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await subscribeWithin(registration, applicationServerKey(public_key), SUBSCRIBE_TIMEOUT_MS));
  const { endpoint, expirationTime, keys } = subscription.toJSON();
  await api.request('POST', '/api/push/subscriptions', {
    body: { endpoint, expirationTime: expirationTime ?? null, keys },
  });
}

export async function unsubscribePush(api: Api): Promise<void> {
  const subscription = await currentSubscription();
  if (!subscription) return;
  try {
    await api.request('DELETE', '/api/push/subscriptions', { body: { endpoint: subscription.endpoint } });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  await subscription.unsubscribe();
}
