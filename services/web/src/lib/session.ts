/** The signed-in user: the JWT in localStorage and what its claims say. */
import type { User } from '../types.js';

export const TOKEN_KEY = 'taskstream.token';

export interface Session {
  token: string;
  userId: string;
  role: 'user' | 'admin';
  email?: string;
  name?: string;
  /** Seconds since the epoch. */
  expiresAt?: number;
}

function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, unverified (the server verifies; the UI only reads who and until when). */
export function sessionOf(token: string): Session | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]!)) as Record<string, unknown>;
    if (typeof claims.sub !== 'string') return null;
    return {
      token,
      userId: claims.sub,
      role: claims.role === 'admin' ? 'admin' : 'user',
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    };
  } catch {
    return null;
  }
}

export function isExpired(session: Session, nowMs = Date.now()): boolean {
  return session.expiresAt !== undefined && session.expiresAt * 1000 <= nowMs;
}

/** The stored session, when there is one and it has not expired. */
export function loadSession(storage: Pick<Storage, 'getItem' | 'removeItem'> = localStorage): Session | null {
  const token = storage.getItem(TOKEN_KEY);
  if (!token) return null;
  const session = sessionOf(token);
  if (!session || isExpired(session)) {
    storage.removeItem(TOKEN_KEY);
    return null;
  }
  return session;
}

export function saveSession(token: string, storage: Pick<Storage, 'setItem'> = localStorage): Session | null {
  const session = sessionOf(token);
  if (session) storage.setItem(TOKEN_KEY, token);
  return session;
}

export function clearSession(storage: Pick<Storage, 'removeItem'> = localStorage) {
  storage.removeItem(TOKEN_KEY);
}

/** The user from `/api/auth/me` is the authority on the role; the token may predate a change. */
export function withUser(session: Session, user: User): Session {
  return { ...session, role: user.role, email: user.email, name: user.name };
}
