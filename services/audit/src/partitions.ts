import type { Logger, Pool } from '@taskstream/platform';
import { withTransaction } from '@taskstream/platform';

const NAME = /^audit_logs_y(\d{4})m(\d{2})$/;

export interface MonthPartition {
  name: string;
  /** Inclusive lower bound (first instant of the month, UTC). */
  from: Date;
  /** Exclusive upper bound (first instant of the next month, UTC). */
  to: Date;
}

/** The monthly partition (UTC) that holds `time`. */
export function partitionFor(time: Date): MonthPartition {
  const year = time.getUTCFullYear();
  const month = time.getUTCMonth();
  const name = `audit_logs_y${String(year).padStart(4, '0')}m${String(month + 1).padStart(2, '0')}`;
  return { name, from: new Date(Date.UTC(year, month, 1)), to: new Date(Date.UTC(year, month + 1, 1)) };
}

/** The bounds of a partition by its name; undefined for a table that is not a monthly partition. */
export function parsePartition(name: string): MonthPartition | undefined {
  const match = NAME.exec(name);
  if (!match) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  if (month < 0 || month > 11) return undefined;
  return { name, from: new Date(Date.UTC(year, month, 1)), to: new Date(Date.UTC(year, month + 1, 1)) };
}

/** The instant before which rows have outlived `retentionDays`. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * 86_400_000);
}

/** Only whole months whose every instant is older than the cutoff go. */
export const isExpired = (partition: MonthPartition, cutoff: Date) =>
  partition.to.getTime() <= cutoff.getTime();

export interface PartitionManager {
  /** Makes sure the partition of `time` exists (cached once seen). */
  ensure(time: Date): Promise<void>;
  /** Forget what is cached about `time`'s month (after an insert found no partition). */
  forget(time: Date): void;
  /** The monthly partitions that exist, oldest first. */
  list(): Promise<MonthPartition[]>;
  /** Drops every partition wholly older than `cutoff`, keeping the hash of chain boundary rows. */
  dropExpired(cutoff: Date): Promise<{ partition: string; rows: number }[]>;
}

export function createPartitionManager(pool: Pool, logger: Logger): PartitionManager {
  const known = new Set<string>();

  async function list(): Promise<MonthPartition[]> {
    const { rows } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'audit_logs'::regclass`,
    );
    return rows
      .map((r) => parsePartition(r.name))
      .filter((p): p is MonthPartition => p !== undefined)
      .sort((a, b) => a.from.getTime() - b.from.getTime());
  }

  return {
    async ensure(time) {
      const { name } = partitionFor(time);
      if (known.has(name)) return;
      await pool.query('SELECT audit_ensure_partition($1)', [time]);
      known.add(name);
    },

    forget(time) {
      known.delete(partitionFor(time).name);
    },

    list,

    async dropExpired(cutoff) {
      const dropped: { partition: string; rows: number }[] = [];
      for (const partition of await list()) {
        if (!isExpired(partition, cutoff)) continue;
        const rows = await withTransaction(pool, async (client) => {
          // One retention run at a time; then stop inserts into the parent (reads go on) so the
          // kept boundary hashes match exactly what is dropped. Wait briefly rather than queue reads.
          await client.query(`SELECT pg_advisory_xact_lock(hashtext('audit_logs_retention'))`);
          await client.query(`SET LOCAL lock_timeout = '10s'`);
          await client.query('LOCK TABLE audit_logs IN SHARE MODE');
          const exists = await client.query('SELECT to_regclass($1) AS oid', [partition.name]);
          if (!exists.rows[0].oid) return undefined;
          // Rows whose successor is not in this partition: a surviving successor needs their hash.
          const kept = await client.query(
            `INSERT INTO audit_chain_pruned (id, hash, partition)
             SELECT id, hash, $1 FROM (
               SELECT id, hash, lead(id) OVER (ORDER BY id) AS next_id FROM ${quoteIdent(partition.name)}
             ) p WHERE next_id IS DISTINCT FROM id + 1
             ON CONFLICT (id) DO NOTHING`,
            [partition.name],
          );
          const count = await client.query(`SELECT count(*)::int AS n FROM ${quoteIdent(partition.name)}`);
          await client.query(`DROP TABLE ${quoteIdent(partition.name)}`);
          logger.info(
            { partition: partition.name, rows: count.rows[0].n, boundary_rows: kept.rowCount },
            'audit partition dropped',
          );
          return count.rows[0].n as number;
        });
        known.delete(partition.name);
        if (rows !== undefined) dropped.push({ partition: partition.name, rows });
      }
      return dropped;
    },
  };
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
