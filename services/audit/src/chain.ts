import { createHash } from 'node:crypto';

/** The `prev_hash` of the first row of the chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted (by UTF-16 code units) and no white space; numbers and strings
 * as JSON.stringify writes them (RFC 8785, JCS). `undefined` members are left out, as in JSON.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
}

/** What a row's hash covers: every audit field as stored, and the previous row's hash. */
export interface ChainedContent {
  id: string;
  event_id: string;
  /** ISO-8601 UTC with milliseconds, as Date#toISOString writes it. */
  time: string;
  actor: string | null;
  action: string;
  task_id: string | null;
  changes: unknown;
  trace_id: string | null;
  source: string;
  payload: unknown;
  prev_hash: string;
}

export function rowHash(content: ChainedContent): string {
  const covered: ChainedContent = {
    id: content.id,
    event_id: content.event_id,
    time: content.time,
    actor: content.actor,
    action: content.action,
    task_id: content.task_id,
    changes: content.changes,
    trace_id: content.trace_id,
    source: content.source,
    payload: content.payload,
    prev_hash: content.prev_hash,
  };
  return createHash('sha256').update(canonicalJson(covered), 'utf8').digest('hex');
}

export interface StoredRow extends ChainedContent {
  hash: string;
}

/** Looks outside the rows being checked: the chain neighbours of a row. */
export interface ChainNeighbours {
  /** The hash of row `id` (also of a dropped row whose hash was kept); undefined when there is none. */
  hashOf(id: string): Promise<string | undefined>;
  /** The `prev_hash` of row `id`; undefined when there is no such row (yet). */
  prevHashOf(id: string): Promise<string | undefined>;
}

export interface VerifyOutcome {
  ok: boolean;
  checked: number;
  first_broken: string | null;
  reason: string | null;
}

const next = (id: string) => (BigInt(id) + 1n).toString();
const previous = (id: string) => (BigInt(id) - 1n).toString();

/**
 * Checks rows given in chain order (ascending id; a selection may skip ids, e.g. a time range).
 * A row is broken when its content does not give its hash, when its predecessor is missing
 * (deleted, not pruned), when it does not chain to a predecessor outside the selection, or when
 * its successor chains to another hash than its own (the row was rewritten with a fresh hash).
 * The first broken row in chain order is named.
 */
export async function verifyRows(
  rows: AsyncIterable<StoredRow>,
  neighbours: ChainNeighbours,
): Promise<VerifyOutcome> {
  let checked = 0;
  let before: StoredRow | undefined;
  const broken = (row: StoredRow, reason: string): VerifyOutcome => ({
    ok: false,
    checked,
    first_broken: row.id,
    reason,
  });

  /** The checks of `row` that need its successor, which is `after` when that is the next id. */
  async function closeRow(row: StoredRow, after: StoredRow | undefined): Promise<VerifyOutcome | undefined> {
    const successorPrev =
      after && after.id === next(row.id) ? after.prev_hash : await neighbours.prevHashOf(next(row.id));
    if (successorPrev !== undefined && successorPrev !== row.hash) {
      return broken(
        row,
        `row ${next(row.id)} chains to another hash than this row's: this row was rewritten`,
      );
    }
    return undefined;
  }

  for await (const row of rows) {
    if (before && BigInt(row.id) <= BigInt(before.id))
      return broken(row, `row id ${row.id} repeats or goes back in the chain`);
    if (before) {
      const outcome = await closeRow(before, row);
      if (outcome) return outcome;
    }
    checked++;
    if (rowHash(row) !== row.hash) return broken(row, 'content does not match its hash');
    if (!before || before.id !== previous(row.id)) {
      const expected = row.id === '1' ? GENESIS_HASH : await neighbours.hashOf(previous(row.id));
      if (expected === undefined) return broken(row, `previous row ${previous(row.id)} is missing`);
      if (expected !== row.prev_hash) return broken(row, `does not chain to row ${previous(row.id)}`);
    }
    before = row;
  }
  if (before) {
    const outcome = await closeRow(before, undefined);
    if (outcome) return outcome;
  }
  return { ok: true, checked, first_broken: null, reason: null };
}
