import type { Pool } from '../db.js';
import type { TopicBrowser, TopicMessage } from '../ports.js';

/** Rows of the event log one read may scan for a key filter: the bound on its cost. */
export const TOPIC_SCAN_ROWS = 5000;

/**
 * The embedded side of the topic browser: the event log is every topic's single partition (0).
 * A position is an event log id; pages follow the log's delivery order (tx, id), the order the
 * consumers read, on its (topic, tx, id) index, so no read scans more than its window.
 */
export function createEventLogTopicBrowser(pool: Pool): TopicBrowser {
  return {
    async topics() {
      // The distinct topics by skipping through the index, one probe per topic (not a scan of the log).
      const { rows } = await pool.query<{ topic: string; start: string; last: string }>(
        `WITH RECURSIVE t AS (
           (SELECT topic FROM event_log ORDER BY topic LIMIT 1)
           UNION ALL
           SELECT (SELECT topic FROM event_log WHERE topic > t.topic ORDER BY topic LIMIT 1) FROM t WHERE t.topic IS NOT NULL
         )
         SELECT t.topic,
           (SELECT id FROM event_log WHERE topic = t.topic ORDER BY tx, id LIMIT 1) AS start,
           (SELECT id FROM event_log WHERE topic = t.topic ORDER BY tx DESC, id DESC LIMIT 1) AS last
         FROM t WHERE t.topic IS NOT NULL LIMIT 1000`,
      );
      return rows.map((r) => ({
        topic: r.topic,
        partitions: [{ partition: 0, start: Number(r.start), end: Number(r.last) + 1 }],
      }));
    },

    async read(topic, query) {
      if (query.partition !== 0) return undefined;
      // Where the page starts: the given id (or the next one the log still has), the first event
      // written at or after `since` (any topic: the created_at index, one row), or the topic's first.
      const anchor: [string, unknown[]] =
        query.since !== undefined
          ? [
              'SELECT tx, id FROM event_log WHERE created_at >= $3 ORDER BY created_at, id LIMIT 1',
              [query.since],
            ]
          : query.from !== undefined
            ? ['SELECT tx, id FROM event_log WHERE id >= $3 ORDER BY id LIMIT 1', [query.from]]
            : ['SELECT tx, id FROM event_log WHERE topic = $1 ORDER BY tx, id LIMIT 1', []];
      const window = query.key === undefined ? query.limit + 1 : TOPIC_SCAN_ROWS + 1;
      // Ids and keys of the window first (small rows), the events only of those taken.
      const { rows } = await pool.query<{ id: string; partition_key: string }>(
        `WITH anchor AS (${anchor[0]})
         SELECT e.id, e.partition_key FROM event_log e, anchor a
         WHERE e.topic = $1 AND (e.tx, e.id) >= (a.tx, a.id)
         ORDER BY e.tx, e.id LIMIT $2`,
        [topic, window, ...anchor[1]],
      );
      if (rows.length === 0) {
        const exists = await pool.query('SELECT 1 FROM event_log WHERE topic = $1 LIMIT 1', [topic]);
        return exists.rowCount ? { messages: [], next: null } : undefined;
      }
      const taken: string[] = [];
      let next: number | null = null;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        if (taken.length >= query.limit || i === window - 1) {
          next = Number(row.id);
          break;
        }
        if (query.key === undefined || row.partition_key === query.key) taken.push(row.id);
      }
      const { rows: events } = await pool.query<{
        id: string;
        partition_key: string;
        created_at: Date;
        event: string;
      }>(
        `SELECT e.id, e.partition_key, e.created_at, e.event::text AS event
         FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, n) JOIN event_log e ON e.id = x.id ORDER BY x.n`,
        [taken],
      );
      const messages: TopicMessage[] = events.map((e) => ({
        topic,
        partition: 0,
        position: Number(e.id),
        key: e.partition_key,
        timestamp: e.created_at.toISOString(),
        // The event log keeps no transport headers: what Kafka would carry as headers is in the CloudEvent.
        headers: {},
        event: JSON.parse(e.event),
      }));
      return { messages, next };
    },
  };
}
