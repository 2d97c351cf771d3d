import { z } from 'zod';
import { StoredText } from './common.js';

export const Role = z.enum(['user', 'admin']);
export type Role = z.infer<typeof Role>;

export const User = z
  .object({
    id: z.uuid(),
    email: z.email(),
    name: z.string(),
    role: Role,
    created_at: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof User>;

/** Length here; the rest of the policy (not the email, not a common password) is checked by task-api. */
const NewPassword = StoredText()
  .min(10, 'password must have at least 10 characters')
  .max(256)
  .describe(
    'at least 10 characters; not the email or the name, not a common password, and not easy to guess (zxcvbn score 2 or more): else 400 `weak_password`',
  );

export const RegisterBody = z
  .strictObject({
    email: z.email().max(254),
    password: NewPassword,
    name: StoredText().trim().min(1).max(200),
  })
  .meta({ id: 'RegisterBody' });
export type RegisterBody = z.infer<typeof RegisterBody>;

export const LoginBody = z
  .strictObject({ email: z.email().max(254), password: StoredText().min(1).max(256) })
  .meta({ id: 'LoginBody' });
export type LoginBody = z.infer<typeof LoginBody>;

export const AuthResponse = z.object({ user: User, token: z.string() }).meta({ id: 'AuthResponse' });
export type AuthResponse = z.infer<typeof AuthResponse>;

/** The same answer whether or not the address already had an account (ADR 0015). */
export const RegisterAccepted = z
  .object({
    status: z.literal('accepted'),
    message: z.string(),
  })
  .meta({ id: 'RegisterAccepted' });
export type RegisterAccepted = z.infer<typeof RegisterAccepted>;

export const ChangePasswordBody = z
  .strictObject({ current_password: StoredText().min(1).max(256), new_password: NewPassword })
  .meta({ id: 'ChangePasswordBody' });
export type ChangePasswordBody = z.infer<typeof ChangePasswordBody>;

/** An admin creates an account (the only way in when REGISTRATION=closed). */
export const CreateUserBody = RegisterBody.extend({ role: Role.default('user') }).meta({
  id: 'CreateUserBody',
});
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const UserResponse = z.object({ user: User }).meta({ id: 'UserResponse' });
export type UserResponse = z.infer<typeof UserResponse>;
