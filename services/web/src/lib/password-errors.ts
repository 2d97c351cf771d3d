import { ApiError, errorMessage } from './api.js';

export type PasswordField = 'current' | 'next' | 'confirm';
/** A message per field of the password form, or for the form as a whole. */
export type PasswordErrors = Partial<Record<PasswordField | 'form', string>>;

/** Which field an answer of `POST /api/auth/password` is about, and what to say there. */
export function passwordErrors(err: unknown): PasswordErrors {
  if (!(err instanceof ApiError)) return { form: errorMessage(err) };
  if (err.code === 'invalid_credentials') return { current: 'The current password is wrong.' };
  const details = Array.isArray(err.details) ? (err.details as { path?: string; message?: string }[]) : [];
  // The policy names `password` (shared with registration), the body's schema `new_password`.
  const about = details.find((d) => d.path === 'password' || d.path === 'new_password');
  if (err.code === 'weak_password' || about) return { next: aboutNew(about?.message ?? err.message) };
  const current = details.find((d) => d.path === 'current_password');
  if (current) return { current: current.message ?? err.message };
  return { form: errorMessage(err) };
}

/** "is a commonly used password" → "The new password is a commonly used password." */
function aboutNew(message: string): string {
  const text = message.replace(/^password:?\s*/i, '').replace(/\.$/, '');
  return /^[a-z]/.test(text) ? `The new password ${text}.` : `New password: ${text}.`;
}
