import { z } from 'zod';
import { TIME_ZONES } from './time-zones.js';

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

/**
 * Text PostgreSQL can store: no U+0000 (text and jsonb cannot hold it) and no lone UTF-16
 * surrogate (JSON can carry `"\ud800"`, but it is no Unicode text: jsonb refuses it, and a text
 * column would silently get U+FFFD instead). Refused as a 400 naming the field, not as a 500 from
 * the database. With the `u` flag a surrogate pair is one code point, so emoji pass; the same
 * pattern lands in the OpenAPI document, where a client or fuzzer sees it.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing U+0000 is the point
export const WELL_FORMED_TEXT = /^[^\u0000\uD800-\uDFFF]*$/u;
const withoutNul = (text: string) => !text.includes('\u0000');
export const isWellFormedText = (text: string) => WELL_FORMED_TEXT.test(text);
const notText = (input: unknown) =>
  typeof input === 'string' && !withoutNul(input)
    ? 'must not contain the NUL character (U+0000)'
    : 'must be well-formed Unicode text (it contains a lone UTF-16 surrogate)';
/** Every string a client sends (body, query, parameter): the one schema, refined per field. */
export const StoredText = () =>
  z.string().regex(WELL_FORMED_TEXT, { error: (issue) => notText(issue.input) });
/**
 * The same check on a string format (a URL): as a refinement, so the document keeps the format
 * (`uri` is ASCII only, which already excludes both), where a pattern would replace it.
 */
export const wellFormed = <S extends z.ZodStringFormat>(schema: S): S =>
  schema.refine(isWellFormedText, { error: (issue) => notText(issue.input) }) as unknown as S;

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
/**
 * A time zone the runtime's database knows. The document lists the zones of `TIME_ZONES` as an
 * enum, so a client (or a fuzzer) sees the valid values; the API also takes their aliases.
 */
export const TimeZone = StoredText()
  .refine(isTimeZone, { message: 'unknown IANA time zone' })
  .meta({
    id: 'TimeZone',
    description: 'an IANA time zone; aliases of those listed (e.g. `US/Eastern`, `Etc/UTC`) are accepted too',
    enum: [...TIME_ZONES],
  });

/**
 * ISO-8601 date-time with an offset or Z; impossible dates (Feb 30) are rejected, and so is an
 * instant outside the years 0001-9999 in UTC (`0001-01-01T00:00:00+01:00` is in year 0): PostgreSQL
 * has no year 0 and a five-digit year is no longer this format, so either would fail later as a 500.
 */
export const DateTime = z.iso
  .datetime({ offset: true })
  .refine(
    (text) => {
      const year = new Date(text).getUTCFullYear();
      return year >= 1 && year <= 9999;
    },
    { message: 'must be between the years 0001 and 9999 in UTC' },
  )
  .overwrite(withinDatabaseOffsets);

/**
 * RFC 3339 allows offsets up to ±23:59, PostgreSQL's timestamptz only ±15:59 (real zones stay
 * within -12:00..+14:00). A valid instant with a larger offset is the same instant in UTC, so it is
 * written that way instead of failing later as a 500; every other value is kept as given.
 */
function withinDatabaseOffsets(text: string): string {
  const offset = /([+-])(\d\d):\d\d$/.exec(text);
  return offset && Number(offset[2]) > 15 ? new Date(text).toISOString() : text;
}

/**
 * Which cursor a list accepts depends on the query it came from (its sort, its filters), which no
 * JSON Schema can say: any other value is refused with a 400 naming `cursor`.
 */
export const Cursor = StoredText()
  .max(512)
  .describe(
    'opaque: the `next_cursor` of the previous page of the same query (same filters and sort); any other value is refused (400)',
  );
export const Limit = z.coerce.number().int().min(1).max(200);

export const page = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });
