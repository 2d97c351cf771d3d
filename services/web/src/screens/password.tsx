import { useRef, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { PageHeading } from '../components/page.js';
import { useApp } from '../context.js';
import {
  type PasswordErrors as Errors,
  type PasswordField as FieldName,
  passwordErrors,
} from '../lib/password-errors.js';

/**
 * Changing the password: the current one proves it is the account's owner at the keyboard; the
 * server checks the new one against the password policy and says what is wrong with it.
 */
export function PasswordScreen() {
  const { api, session } = useApp();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const refs = {
    current: useRef<HTMLInputElement>(null),
    next: useRef<HTMLInputElement>(null),
    confirm: useRef<HTMLInputElement>(null),
  };

  function show(found: Errors) {
    setErrors(found);
    const first = (['current', 'next', 'confirm'] as const).find((f) => found[f]);
    if (first) refs[first].current?.focus();
  }

  async function submit(event: Event) {
    event.preventDefault();
    setDone(false);
    if (next !== confirm) return show({ confirm: 'The two new passwords differ.' });
    if (next === current) return show({ next: 'The new password is the current one.' });
    setBusy(true);
    setErrors({});
    try {
      await api.request('POST', '/api/auth/password', {
        body: { current_password: current, new_password: next },
      });
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(true);
    } catch (err) {
      show(passwordErrors(err));
    } finally {
      setBusy(false);
    }
  }

  const input = (name: FieldName, label: string, value: string, set: (v: string) => void, hint?: string) => {
    const id = `password-${name}`;
    const described = [hint && `${id}-hint`, errors[name] && `${id}-error`].filter(Boolean).join(' ');
    return (
      <Field id={id} label={label} hint={hint}>
        <input
          id={id}
          ref={refs[name]}
          type="password"
          required
          minLength={name === 'current' ? undefined : 10}
          maxLength={256}
          autocomplete={name === 'current' ? 'current-password' : 'new-password'}
          value={value}
          aria-invalid={errors[name] ? true : undefined}
          aria-describedby={described || undefined}
          onInput={(e) => set(e.currentTarget.value)}
        />
        {errors[name] && (
          <p id={`${id}-error`} class="error">
            {errors[name]}
          </p>
        )}
      </Field>
    );
  };

  return (
    <section aria-labelledby="page-title">
      <PageHeading>Change password</PageHeading>
      <p>
        For <strong>{session.email ?? session.name}</strong>. <a href="#/settings">Back to settings</a>
      </p>
      <form onSubmit={submit} class="password-form" aria-label="Change password">
        {/* The account's email for password managers, which file the new password under it. */}
        <input type="email" autocomplete="username" value={session.email ?? ''} hidden readOnly />
        {input('current', 'Current password', current, setCurrent)}
        {input(
          'next',
          'New password',
          next,
          setNext,
          'At least 10 characters; not your email or name, not a common password. A few unrelated words work well.',
        )}
        {input('confirm', 'New password again', confirm, setConfirm)}
        {errors.form && (
          <p class="error" role="alert">
            {errors.form}
          </p>
        )}
        <div aria-live="polite">
          {done && (
            <p class="ok" role="status">
              Your password has been changed. Log in with the new one from now on; browsers already signed in
              stay signed in until their session ends.
            </p>
          )}
        </div>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}
