import { z } from 'zod';

/** Every error response: `{"error": {"code", "message", "details"}}`. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('machine-readable code, e.g. validation_failed'),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** IANA time zone, checked against the runtime's zone database (answers cached: it is on every request). */
const knownZones = new Map<string, boolean>();
export const isTimeZone = (tz: string): boolean => {
  let known = knownZones.get(tz);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      known = true;
    } catch {
      known = false;
    }
    if (knownZones.size < 10_000) knownZones.set(tz, known);
  }
  return known;
};
export const TimeZone = z.string().refine(isTimeZone, { message: 'unknown IANA time zone' });

/** ISO-8601 date-time with an offset or Z; impossible dates (Feb 30) are rejected. */
export const DateTime = z.iso.datetime({ offset: true });

export const Cursor = z.string().max(512);
export const Limit = z.coerce.number().int().min(1).max(200);

export const page = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });
