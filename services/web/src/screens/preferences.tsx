import { useEffect, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { ZoneSelect } from '../components/zone-select.js';
import { useApp } from '../context.js';
import { errorMessage, isUnavailable } from '../lib/api.js';
import { browserTimeZone } from '../lib/time.js';
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
            <TimeField
              id="quiet-start"
              label="From"
              value={quiet.start}
              onInput={(start) => setQuiet({ start })}
            />
            <TimeField id="quiet-end" label="Until" value={quiet.end} onInput={(end) => setQuiet({ end })} />
            <Field id="quiet-zone" label="Time zone">
              <ZoneSelect
                id="quiet-zone"
                value={quiet.time_zone}
                onChange={(time_zone) => setQuiet({ time_zone })}
              />
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

function TimeField({
  id,
  label,
  value,
  onInput,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
}) {
  return (
    <Field id={id} label={label}>
      <input id={id} type="time" required value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </Field>
  );
}
