import { useEffect, useState } from 'preact/hooks';
import { Field } from '../components/field.js';
import { type Api, errorMessage } from '../lib/api.js';
import type { AuthResponse } from '../types.js';

interface Props {
  api: Api;
  mode: 'login' | 'register';
  onSignedIn: (token: string) => void;
  /** Why the previous session ended, if it did. */
  notice?: string | null;
}

export function AuthScreen({ api, mode, onSignedIn, notice }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const registering = mode === 'register';

  useEffect(() => {
    document.title = registering ? 'Create an account · taskstream' : 'Log in · taskstream';
    setError(null);
  }, [registering]);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Registering answers the same whether or not the address had an account (no account
      // probing); a new account is then signed in like any other.
      if (registering) await api.request('POST', '/api/auth/register', { body: { email, password, name } });
      const response = await api.request<AuthResponse>('POST', '/api/auth/login', {
        body: { email, password },
      });
      onSignedIn(response.token);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main-content" class="auth" tabIndex={-1}>
      <div class="auth-card">
        <p class="brand brand-large" aria-hidden="true">
          taskstream
        </p>
        <h1>{registering ? 'Create an account' : 'Log in'}</h1>
        <nav aria-label="Account" class="tabs">
          <a href="#/login" aria-current={registering ? undefined : 'page'}>
            Log in
          </a>
          <a href="#/register" aria-current={registering ? 'page' : undefined}>
            Register
          </a>
        </nav>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <form onSubmit={submit} aria-describedby={error ? 'auth-error' : undefined}>
          {registering && (
            <Field id="auth-name" label="Name">
              <input
                id="auth-name"
                name="name"
                autoComplete="name"
                required
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
              />
            </Field>
          )}
          <Field id="auth-email" label="Email">
            <input
              id="auth-email"
              name="email"
              type="email"
              autoComplete="email"
              required
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </Field>
          <Field
            id="auth-password"
            label="Password"
            hint={registering ? 'At least 10 characters, not a common password.' : undefined}
          >
            <input
              id="auth-password"
              name="password"
              type="password"
              autoComplete={registering ? 'new-password' : 'current-password'}
              minLength={registering ? 10 : undefined}
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              aria-describedby={registering ? 'auth-password-hint' : undefined}
            />
          </Field>
          {error && (
            <p id="auth-error" class="error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" class="primary" disabled={busy}>
            {registering ? 'Create account' : 'Log in'}
          </button>
        </form>
      </div>
    </main>
  );
}
