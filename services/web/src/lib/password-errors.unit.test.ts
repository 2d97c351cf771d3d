import { ApiError, createApi } from './api.js';
import { passwordErrors } from './password-errors.js';

describe('the answers of a password change, by field', () => {
  it('puts a wrong current password at its field', () => {
    expect(passwordErrors(new ApiError(401, 'invalid_credentials', 'current_password is wrong'))).toEqual({
      current: 'The current password is wrong.',
    });
  });

  it("puts the policy's and the schema's complaints about the new password at its field", () => {
    const policy = new ApiError(400, 'weak_password', 'password: is a commonly used password', [
      { path: 'password', message: 'is a commonly used password' },
    ]);
    expect(passwordErrors(policy)).toEqual({ next: 'The new password is a commonly used password.' });
    const short = new ApiError(400, 'validation_failed', 'invalid body', [
      { path: 'new_password', message: 'password must have at least 10 characters' },
    ]);
    expect(passwordErrors(short)).toEqual({ next: 'The new password must have at least 10 characters.' });
    const long = new ApiError(400, 'validation_failed', 'invalid body', [
      { path: 'new_password', message: 'Too big: expected string to have <=256 characters' },
    ]);
    expect(passwordErrors(long)).toEqual({
      next: 'New password: Too big: expected string to have <=256 characters.',
    });
  });

  it('says anything else for the whole form', () => {
    expect(
      passwordErrors(new ApiError(429, 'too_many_attempts', 'too many attempts; retry in 60 s')),
    ).toEqual({
      form: 'too many attempts; retry in 60 s',
    });
    expect(passwordErrors(new ApiError(0, 'network_error', 'x'))).toEqual({
      form: 'The server cannot be reached.',
    });
  });
});

describe('the API client on a 401', () => {
  const answering = (code: string) => async () =>
    new Response(JSON.stringify({ error: { code, message: code } }), { status: 401 });

  it('ends the session for a refused token, not for a wrong password in the body', async () => {
    let ended = 0;
    const api = (code: string) =>
      createApi({ token: () => 'tok', onUnauthorized: () => ended++, fetch: answering(code) });
    await expect(api('invalid_credentials').request('POST', '/api/auth/password')).rejects.toMatchObject({
      status: 401,
    });
    expect(ended).toBe(0);
    await expect(api('invalid_token').request('GET', '/api/tasks')).rejects.toMatchObject({ status: 401 });
    expect(ended).toBe(1);
  });
});
