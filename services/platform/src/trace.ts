import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

// Random bytes drawn from a pool refilled 4 KiB at a time: ids are made for every request and
// every event, and one call into the system's generator per id showed in profiles.
const pool = Buffer.alloc(4096);
let used = pool.length;

/** `n` (≤ 4096) cryptographically random bytes, copied out of the pool. */
export function randomBytesPooled(n: number): Buffer {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  used += n;
  return out;
}

/** A UUIDv7 (time-ordered) with its random part from the pool. */
export const newId = (): string => uuidv7({ random: randomBytesPooled(16) });

/** A W3C traceparent: continue the caller's trace with a new span id, or start one. */
export function childTraceparent(incoming?: string | null): string {
  const match = incoming ? TRACEPARENT.exec(incoming) : null;
  const traceId = match && !/^0+$/.test(match[1]!) ? match[1]! : randomBytesPooled(16).toString('hex');
  const flags = match ? match[3]! : '01';
  return `00-${traceId}-${randomBytesPooled(8).toString('hex')}-${flags}`;
}

export function traceIdOf(traceparent?: string | null): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}
