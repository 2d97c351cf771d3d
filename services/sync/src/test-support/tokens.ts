import { TEST_JWT_SECRET } from '@taskstream/platform/test-support';
import { SignJWT } from 'jose';

/** A token of the test runtimes' issuer that expires `seconds` from now (whole seconds, as JWTs count). */
export function expiringToken(userId: string, seconds: number): Promise<string> {
  return new SignJWT({ role: 'user' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer('taskstream')
    .setAudience('taskstream')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}
