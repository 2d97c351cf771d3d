import { useEffect, useState } from 'preact/hooks';
import { PageHeading } from '../components/page.js';
import { useApp } from '../context.js';
import { errorMessage, isUnavailable } from '../lib/api.js';
import { type PushStatus, pushStatus, subscribePush, unsubscribePush } from '../lib/push.js';
import { PreferencesSection } from './preferences.js';

const STATUS_TEXT: Record<PushStatus, string> = {
  unsupported: 'This browser does not support Web Push.',
  denied: 'Notifications are blocked for this site in the browser settings.',
  subscribed: 'Push reminders are on for this browser.',
  unsubscribed: 'Push reminders are off for this browser.',
};

/** Subscribing can take seconds (the browser asks its push service): say so while it runs. */
const BUSY_TEXT = { on: 'Turning on push reminders…', off: 'Turning off push reminders…' };

export function SettingsScreen() {
  const { api, session, toast } = useApp();
  const [status, setStatus] = useState<PushStatus | null>(null);
  const [available, setAvailable] = useState<boolean | null>(null);
  const [busy, setBusy] = useState<'on' | 'off' | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void pushStatus().then(setStatus, () => setStatus('unsupported'));
    api.request('GET', '/api/push/vapid-public-key').then(
      () => setAvailable(true),
      (err) => setAvailable(!isUnavailable(err)),
    );
  }, []);

  async function change(on: boolean) {
    setBusy(on ? 'on' : 'off');
    setError(null);
    try {
      if (on) await subscribePush(api);
      else await unsubscribePush(api);
      setStatus(await pushStatus());
      toast(on ? 'Push reminders turned on.' : 'Push reminders turned off.');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="page-title">
      <PageHeading>Settings</PageHeading>
      <h2>Account</h2>
      <dl class="facts">
        <dt>Name</dt>
        <dd>{session.name ?? '—'}</dd>
        <dt>Email</dt>
        <dd>{session.email ?? '—'}</dd>
        <dt>Role</dt>
        <dd>{session.role}</dd>
      </dl>
      <p>
        <a href="#/settings/password">Change password</a>
      </p>

      <h2 id="preferences-title">Notification preferences</h2>
      <PreferencesSection />

      <h2>Push reminders</h2>
      <p>Get reminders with the channel “Push” as system notifications, even when this page is closed.</p>
      {available === false ? (
        <p class="unavailable" role="status">
          Web Push is not available on this server.
        </p>
      ) : (
        <>
          <p role="status" aria-live="polite" id="push-status">
            {busy ? BUSY_TEXT[busy] : status ? STATUS_TEXT[status] : 'Checking…'}
          </p>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          {status === 'unsubscribed' && (
            <button
              type="button"
              class="primary"
              disabled={busy !== null || available !== true}
              onClick={() => change(true)}
              aria-describedby="push-status"
            >
              Turn on push reminders
            </button>
          )}
          {status === 'subscribed' && (
            <button
              type="button"
              class="secondary"
              disabled={busy !== null}
              onClick={() => change(false)}
              aria-describedby="push-status"
            >
              Turn off push reminders
            </button>
          )}
        </>
      )}
    </section>
  );
}
