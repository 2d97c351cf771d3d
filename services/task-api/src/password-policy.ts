import { HttpError } from '@taskstream/platform';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

/** Below this zxcvbn score (0–4) a password is "too guessable" (2: guessable within ~10^8 tries). */
const MIN_SCORE = 2;

// Built once: ranking the dictionaries (about 50,000 common passwords, shipped in the package) takes a while.
let checker: ZxcvbnFactory | undefined;
const zxcvbn = () => (checker ??= new ZxcvbnFactory({ dictionary, graphs: adjacencyGraphs }));

const refuse = (message: string) =>
  new HttpError(400, 'weak_password', `password: ${message}`, [{ path: 'password', message }]);

/**
 * The password policy (ADR 0015): at least 10 characters (the contract checks that), not the
 * email or the name or a variant of them, not a common password (whole, or with l33t, reversed
 * or capitalised), and not too guessable by zxcvbn's estimate. Everything is local: no request
 * leaves the process.
 */
export function checkPasswordPolicy(password: string, user: { email: string; name?: string }) {
  const email = user.email.toLowerCase();
  const lowered = password.toLowerCase();
  if (lowered === email || lowered === email.split('@')[0]) throw refuse('must not be the email address');
  const inputs = [email, email.split('@')[0]!, ...(user.name ? [user.name] : [])];
  const result = zxcvbn().check(password, inputs);
  const whole = result.sequence.length === 1 ? result.sequence[0] : undefined;
  if (whole?.pattern === 'dictionary') {
    if (whole.dictionaryName === 'userInputs') throw refuse('must not be the email address or the name');
    if (whole.dictionaryName === 'passwords-common') throw refuse('is a commonly used password');
  }
  if (result.score < MIN_SCORE)
    throw refuse(
      `is too easy to guess${result.feedback.warning ? ` (${result.feedback.warning})` : ''}; add more words`,
    );
}
