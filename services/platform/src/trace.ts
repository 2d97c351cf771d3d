import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C traceparent: continue the caller's trace with a new span id, or start one. */
export function childTraceparent(incoming?: string | null): string {
  const match = incoming ? TRACEPARENT.exec(incoming) : null;
  const traceId = match && !/^0+$/.test(match[1]!) ? match[1]! : randomBytes(16).toString('hex');
  const flags = match ? match[3]! : '01';
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

export function traceIdOf(traceparent?: string | null): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}
