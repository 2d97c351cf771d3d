import { CHECKED_LENGTH, checkPasswordPolicy } from './password-policy.js';

const user = { email: 'policy-user@example.com', name: 'Policy' };
const refusal = (password: string) => {
  try {
    checkPasswordPolicy(password, user);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('the password policy', () => {
  it('refuses common passwords, also in l33t, and the email; takes a long random one', () => {
    expect(refusal('qwertyuiop')).toMatch(/commonly used password/);
    expect(refusal('p@ssw0rd12')).toMatch(/commonly used|too easy/);
    expect(refusal('policy-user@example.com')).toMatch(/email/);
    expect(refusal('violet-anchor-drizzle-91')).toBeUndefined();
  });

  it(`judges the first ${CHECKED_LENGTH} characters: a guessable start is refused whatever follows`, () => {
    const strong = 'violet-anchor-drizzle-91';
    expect(refusal(`${'0'.repeat(CHECKED_LENGTH)}${strong}`)).toMatch(/too easy/);
    expect(refusal(`${strong}${'0'.repeat(256 - strong.length)}`)).toBeUndefined();
  });

  it('answers a 256-character run of one digit (the contract’s longest) without a hang', () => {
    const started = process.cpuUsage();
    expect(refusal('0'.repeat(256))).toMatch(/too easy/);
    const cpu = process.cpuUsage(started);
    // Generous: only a hang fails this (unbounded, it took seconds of CPU on a loaded machine).
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(1500);
  });
});
