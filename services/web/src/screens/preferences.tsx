import { useEffect, useMemo, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { useApp } from '../context.js';
import { errorMessage, isUnavailable } from '../lib/api.js';
import { browserTimeZone, timeZones } from '../lib/time.js';
import type { Channel, Preferences } from '../types.js';

const CHANNELS: { channel: Channel; label: string; hint: string }[] = [
  { channel: 'email', label: 'Email', hint: 'to the address you log in with' },
  { channel: 'push', label: 'Push', hint: 'system notifications in browsers where push is on' },
  { channel: 'in_app', label: 'In the app', hint: 'the inbox of this app' },
];

/**
 * Which channels a reminder may use at all, and quiet hours in which it waits. A task's own
 * channels are narrowed to these; during quiet hours the reminder is sent when they end.
 */
export function PreferencesSection() {
  const { api, toast } = useApp();
  const zones = useMemo(timeZones, []);
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  const [available, setAvailable] = useState(true);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.request<Preferences>('GET', '/api/preferences').then(setPrefs, (err) => {
      if (isUnavailable(err)) setAvailable(false);
      else setError(errorMessage(err));
    });
  }, []);

  if (!available)
    return (
      <p class="unavailable" role="status">
        Notification preferences are not available on this server.
      </p>
    );
  if (!prefs) return <p role="status">{error ?? 'Loading preferences…'}</p>;

  const toggle = (channel: Channel, on: boolean) =>
    setPrefs({
      ...prefs,
      channels: on ? [...prefs.channels, channel] : prefs.channels.filter((c) => c !== channel),
    });
  const quiet = prefs.quiet_hours;
  const setQuiet = (patch: Partial<NonNullable<Preferences['quiet_hours']>>) =>
    setPrefs({ ...prefs, quiet_hours: { ...quiet!, ...patch } });

  async function save(event: Event) {
    event.preventDefault();
    setSaving(true);
    setError(null);
    try {
      setPrefs(await api.request<Preferences>('PUT', '/api/preferences', { body: prefs }));
      toast('Notification preferences saved.');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <form onSubmit={save} aria-labelledby="preferences-title">
      <fieldset class="choices">
        <legend>Channels reminders may use</legend>
        {CHANNELS.map(({ channel, label, hint }) => (
          <label key={channel} class="check">
            <input
              type="checkbox"
              checked={prefs.channels.includes(channel)}
              onChange={(e) => toggle(channel, e.currentTarget.checked)}
            />{' '}
            {label} <span class="hint">({hint})</span>
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Quiet hours</legend>
        <label class="check">
          <input
            type="checkbox"
            checked={quiet !== null}
            onChange={(e) =>
              setPrefs({
                ...prefs,
                quiet_hours: e.currentTarget.checked
                  ? { start: '22:00', end: '07:00', time_zone: browserTimeZone() }
                  : null,
              })
            }
          />{' '}
          Hold reminders during quiet hours
        </label>
        {quiet && (
          <div class="row">
            <Field id="quiet-start" label="From">
              <input
                id="quiet-start"
                type="time"
                required
                value={quiet.start}
                onInput={(e) => setQuiet({ start: e.currentTarget.value })}
              />
            </Field>
            <Field id="quiet-end" label="Until">
              <input
                id="quiet-end"
                type="time"
                required
                value={quiet.end}
                onInput={(e) => setQuiet({ end: e.currentTarget.value })}
              />
            </Field>
            <Field id="quiet-zone" label="Time zone">
              <select
                id="quiet-zone"
                value={quiet.time_zone}
                onChange={(e) => setQuiet({ time_zone: e.currentTarget.value })}
              >
                {zones.map((z) => (
                  <option key={z} value={z}>
                    {z.replace(/_/g, ' ')}
                  </option>
                ))}
              </select>
            </Field>
          </div>
        )}
      </fieldset>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="primary" disabled={saving}>
        {saving ? 'Saving…' : 'Save preferences'}
      </button>
    </form>
  );
}
