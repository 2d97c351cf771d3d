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

/** Asks for permission, subscribes with the server's VAPID key and registers the subscription. */
export async function subscribePush(api: Api): Promise<void> {
  const { public_key } = await api.request<{ public_key: string }>('GET', '/api/push/vapid-public-key');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications are not allowed for this site');
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: applicationServerKey(public_key),
    }));
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
