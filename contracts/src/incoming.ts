import { type EventName, type EventOf, EventSchemas } from './events.js';

/**
 * An incoming event breaks its contract. Retrying cannot mend it; the bus retries and then
 * dead-letters it with this message as the reason.
 */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

/**
 * The incoming event as the contract of `name` reads it, or InvalidEventError naming the event
 * and every field that is wrong (`invalid task.updated event <id>: data.task_id: Invalid UUID`).
 */
export function parseEvent<N extends EventName>(name: N, event: unknown): EventOf<N> {
  const result = EventSchemas[name].safeParse(event);
  if (result.success) return result.data as EventOf<N>;
  const issues = result.error.issues
    .map((issue) => `${issue.path.map(String).join('.') || '(event)'}: ${issue.message}`)
    .join('; ');
  const id = (event as { id?: unknown } | null | undefined)?.id;
  throw new InvalidEventError(`invalid ${name} event ${String(id)}: ${issues}`);
}
