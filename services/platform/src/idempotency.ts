import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { badRequest, unprocessable } from './errors.js';

/** What a create carries to be answered once: the client's key and a hash of its body. */
export interface IdempotencyRequest {
  key: string;
  requestHash: string;
}

/**
 * The request's `Idempotency-Key` (1 to 255 characters) with the hash of its parsed body, or
 * undefined when the header is absent and not `required`. The services keep the key with what it
 * created, in the creating transaction (task-api's tasks, payments' transactions and wallets).
 */
export function idempotencyOf(req: Request, body: unknown, options: { required: true }): IdempotencyRequest;
export function idempotencyOf(
  req: Request,
  body: unknown,
  options?: { required?: boolean },
): IdempotencyRequest | undefined;
export function idempotencyOf(
  req: Request,
  body: unknown,
  options: { required?: boolean } = {},
): IdempotencyRequest | undefined {
  const key = req.header('idempotency-key');
  if (key === undefined && !options.required) return undefined;
  if (key === undefined || key.length === 0 || key.length > 255) {
    throw badRequest(
      key === undefined
        ? 'Idempotency-Key is required: a client-chosen key (1 to 255 characters) that makes a retry safe'
        : 'Idempotency-Key must have 1 to 255 characters',
      { header: 'Idempotency-Key' },
    );
  }
  return { key, requestHash: createHash('sha256').update(JSON.stringify(body)).digest('base64url') };
}

/** A key used before with another body is a client error (422), not a replay. */
export function assertSameRequest(priorHash: string, request: IdempotencyRequest | undefined): void {
  if (priorHash !== request?.requestHash) {
    throw unprocessable('this Idempotency-Key was used with a different request body', {
      header: 'Idempotency-Key',
    });
  }
}
