import type { z } from 'zod';

/** An error that becomes `{"error": {code, message, details}}` with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new HttpError(400, 'bad_request', message, details);
export const unauthorized = (message = 'authentication required') =>
  new HttpError(401, 'unauthorized', message);
export const forbidden = (message = 'not allowed') => new HttpError(403, 'forbidden', message);
export const notFound = (what = 'resource') => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);
export const preconditionFailed = (message: string, details?: unknown) =>
  new HttpError(412, 'precondition_failed', message, details);
export const unprocessable = (message: string, details?: unknown) =>
  new HttpError(422, 'unprocessable', message, details);

/** zod issues as a list a client can show: which field, what is wrong. */
export function validationError(error: z.ZodError, where: 'body' | 'query' | 'params' | 'header' = 'body') {
  const details = error.issues.map((i) => ({
    path: i.path.map(String).join('.') || (where === 'body' ? '(body)' : `(${where})`),
    message:
      i.code === 'unrecognized_keys'
        ? `unknown field(s): ${(i as { keys: string[] }).keys.join(', ')}`
        : i.message,
  }));
  const first = details[0];
  return new HttpError(
    400,
    'validation_failed',
    `invalid ${where}: ${first ? `${first.path}: ${first.message}` : 'see details'}`,
    details,
  );
}

/**
 * A start that cannot go on for a reason the user fixes by hand (a port in use, a server left
 * running): the entry prints its message as one line and exits 1, without a stack.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
