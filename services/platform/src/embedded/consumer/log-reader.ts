import type { Pool } from '../../db.js';
import type { Envelope } from '../../ports.js';

/** Events one fetch hands a consumer at most. */
export const BATCH = 2000;

export interface LogRow {
  id: number;
  tx: string;
  partition_key: string;
  event: Envelope;
  visible: boolean;
}

/** Where a consumer has handled up to in the log: the (tx, id) of its last event. */
export interface LogPosition {
  tx: string;
  id: number;
}

/**
 * A consumer's next events on topic $2 after `position`, with whether each is below the visibility
 * horizon. An event of a type the consumer does not take (`types`, NULL for all) comes without its
 * body: it moves the checkpoint, and is neither sent nor parsed.
 */
const fetchAfter = (
  position: string,
  types: string,
) => `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
  SELECT e.id, e.tx::text AS tx, e.partition_key,
    CASE WHEN ${types}::text[] IS NULL OR e.event->>'type' = ANY(${types}::text[]) THEN e.event END AS event,
    e.tx < h.xmin AS visible
  FROM event_log e, h
  WHERE e.topic = $2
    AND (e.tx, e.id) > ${position}
  ORDER BY e.tx, e.id LIMIT ${BATCH + 1}`;

/**
 * After the stored checkpoint ($1 consumer, $2 topic). The checkpoint is a row subquery, not a
 * joined CTE: so it is an index condition and the scan starts at the checkpoint. Joined, it was
 * a filter, and every fetch read the topic's whole retained log up to the checkpoint (ADR 0012
 * has the figures).
 */
export const FETCH_NEW_SQL = fetchAfter(
  '(SELECT tx, last_id FROM consumer_checkpoints WHERE consumer = $1 AND topic = $2)',
  '$3',
);
/** After the position this process reached ($1 tx, $3 id), while its checkpoint commit may still be on its way. */
const FETCH_AFTER_SQL = fetchAfter('($1::xid8, $3::bigint)', '$4');

/**
 * The puller: a consumer's next batch of events of its topic, after `position` (the one this
 * process reached) or, without one, after the stored checkpoint. Only events of transactions
 * below the visibility horizon are taken; `rows` are those of the `types` asked for (all without),
 * `last` is the last event taken, whatever its type (where the checkpoint moves to); `hidden` says
 * committed ones wait behind an older open transaction, `more` that a full batch came and more
 * may wait right away.
 */
export async function readNew(
  pool: Pool,
  consumer: string,
  topic: string,
  position: LogPosition | undefined,
  types?: readonly string[],
): Promise<{ rows: LogRow[]; last?: LogPosition; more: boolean; hidden: boolean }> {
  const wanted = types ? [...types] : null;
  const { rows: all } = await (position
    ? pool.query<LogRow>({
        name: 'event_bus_fetch_after',
        text: FETCH_AFTER_SQL,
        values: [position.tx, topic, position.id, wanted],
      })
    : pool.query<LogRow>({
        name: 'event_bus_fetch_new',
        text: FETCH_NEW_SQL,
        values: [consumer, topic, wanted],
      }));
  // Rows are in tx order, so the visible ones come first.
  const taken = all.filter((r) => r.visible).slice(0, BATCH);
  const last = taken[taken.length - 1];
  return {
    rows: taken.filter((r) => r.event !== null),
    ...(last ? { last: { tx: last.tx, id: last.id } } : {}),
    more: taken.length === BATCH,
    hidden: all.some((r) => !r.visible),
  };
}
