import { type Pool, type PoolClient, withTransaction } from '@taskstream/platform';
import { type ChainNeighbours, type StoredRow, type VerifyOutcome, verifyRows } from './chain.js';

const BATCH = 1000;

export interface VerifyRange {
  /** Inclusive. */
  start_date?: string;
  /** Exclusive. */
  end_date?: string;
}

/**
 * Checks the rows whose time lies in the range, in chain order, on one snapshot. Without an end
 * the newest row must also be the one the chain head names (rows cut off the end show).
 */
export async function verifyChain(pool: Pool, range: VerifyRange): Promise<VerifyOutcome> {
  return withTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return verifyInSnapshot(client, range);
  });
}

async function verifyInSnapshot(client: PoolClient, range: VerifyRange): Promise<VerifyOutcome> {
  const neighbours: ChainNeighbours = {
    async hashOf(id) {
      const { rows } = await client.query(
        `SELECT hash FROM audit_logs WHERE id = $1 UNION ALL SELECT hash FROM audit_chain_pruned WHERE id = $1 LIMIT 1`,
        [id],
      );
      return rows[0]?.hash;
    },
    async prevHashOf(id) {
      const { rows } = await client.query('SELECT prev_hash FROM audit_logs WHERE id = $1 LIMIT 1', [id]);
      return rows[0]?.prev_hash;
    },
  };

  async function* rows(): AsyncGenerator<StoredRow> {
    let after = '0';
    for (;;) {
      const params: unknown[] = [after, BATCH];
      const where = ['id > $1::bigint'];
      if (range.start_date) where.push(`time >= $${params.push(range.start_date)}::timestamptz`);
      if (range.end_date) where.push(`time < $${params.push(range.end_date)}::timestamptz`);
      const batch = await client.query(
        `SELECT id::text AS id, event_id, time, actor, action, task_id, changes, trace_id, source, payload, prev_hash, hash
         FROM audit_logs WHERE ${where.join(' AND ')} ORDER BY audit_logs.id LIMIT $2`,
        params,
      );
      for (const row of batch.rows) yield { ...row, time: (row.time as Date).toISOString() };
      if (batch.rows.length < BATCH) return;
      after = batch.rows[batch.rows.length - 1].id;
    }
  }

  const outcome = await verifyRows(rows(), neighbours);
  if (!outcome.ok || range.end_date) return outcome;

  // The newest row: still there, and the one the head was moved to.
  const head = (await client.query('SELECT last_id::text AS last_id, last_hash FROM audit_chain_head'))
    .rows[0];
  if (!head || head.last_id === '0') return outcome;
  const newest = await neighbours.hashOf(head.last_id);
  if (newest === undefined)
    return {
      ...outcome,
      ok: false,
      first_broken: head.last_id,
      reason: `newest row ${head.last_id} is missing`,
    };
  if (newest !== head.last_hash) {
    return {
      ...outcome,
      ok: false,
      first_broken: head.last_id,
      reason: `newest row ${head.last_id} differs from the chain head`,
    };
  }
  const beyond = await client.query(
    'SELECT id::text AS id FROM audit_logs WHERE id > $1::bigint ORDER BY audit_logs.id LIMIT 1',
    [head.last_id],
  );
  if (beyond.rows[0]) {
    return {
      ...outcome,
      ok: false,
      first_broken: beyond.rows[0].id,
      reason: `row ${beyond.rows[0].id} lies beyond the chain head`,
    };
  }
  return outcome;
}
