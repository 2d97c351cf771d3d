import { HttpError } from '@taskstream/platform';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

/** Below this zxcvbn score (0–4) a password is "too guessable" (2: guessable within ~10^8 tries). */
const MIN_SCORE = 2;

/**
 * zxcvbn's estimate reads this many characters of a password (ADR 0015). Its matching grows
 * faster than the length: the contract's 256 characters of one repeated digit took 1.4-2.7 s of
 * the request's thread (which serves every other request too), 64 take a tenth of that. A
 * password whose first 64 characters are guessable is refused, whatever follows them.
 */
export const CHECKED_LENGTH = 64;
/** l33t readings tried per password: enough for `p@55w0rd`, not the thousands a run of `0`s makes. */
const L33T_MAX_SUBSTITUTIONS = 10;

// Built once: ranking the dictionaries (about 50,000 common passwords, shipped in the package) takes a while.
let checker: ZxcvbnFactory | undefined;
const zxcvbn = () =>
  (checker ??= new ZxcvbnFactory({
    dictionary,
    graphs: adjacencyGraphs,
    maxLength: CHECKED_LENGTH,
    l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
  }));

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
