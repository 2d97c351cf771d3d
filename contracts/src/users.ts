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

export const RegisterBody = z
  .strictObject({
    email: z.email().max(254),
    password: StoredText().min(8, 'password must have at least 8 characters').max(256),
    name: StoredText().trim().min(1).max(200),
  })
  .meta({ id: 'RegisterBody' });
export type RegisterBody = z.infer<typeof RegisterBody>;

export const LoginBody = z
  .strictObject({ email: z.email().max(254), password: StoredText().min(1).max(256) })
  .meta({ id: 'LoginBody' });
export type LoginBody = z.infer<typeof LoginBody>;

export const AuthResponse = z.object({ user: User, token: z.string() }).meta({ id: 'AuthResponse' });
/** `GET /api/auth/me`: who the bearer token belongs to. */
export const MeResponse = z.object({ user: User }).meta({ id: 'MeResponse' });
export type AuthResponse = z.infer<typeof AuthResponse>;
