import {
  type EventName,
  eventName,
  parseEvent,
  SecurityEventNames,
  TopicEvents,
} from '@taskstream/contracts';
import { type Envelope, type Pool, type Queryable, traceIdOf, withTransaction } from '@taskstream/platform';
import { type ChainedContent, rowHash } from './chain.js';
import type { PartitionManager } from './partitions.js';

type TaskEventData = { data: { user_id: string; task_id: string } };
type SecurityEventData = {
  data: { actor: string | null; client_address: string | null; user_agent: string | null };
};

const AUDITED = new Set<EventName>([...TopicEvents['task-events'], ...SecurityEventNames]);
const SECURITY = new Set<EventName>(SecurityEventNames);

/** An audit row before it takes its place in the chain. */
export type AuditEntry = Omit<ChainedContent, 'id' | 'prev_hash'>;

/**
 * The audit entry of a task event; undefined for an event type the audit does not record.
 * Throws InvalidEventError naming what is wrong with a task event that breaks its schema.
 */
export function entryOf(event: Envelope): AuditEntry | undefined {
  const name = eventName(event.type);
  if (!name || !AUDITED.has(name)) return undefined;
  const parsed = parseEvent(name, event);
  // The payload as sent (the schema would strip fields it does not know), made plain JSON.
  const payload = JSON.parse(JSON.stringify((event.data as { payload: unknown }).payload));
  const common = {
    event_id: parsed.id,
    time: new Date(parsed.time).toISOString(),
    action: name,
    trace_id: traceIdOf(parsed.traceparent) ?? null,
    source: parsed.source,
  };
  if (SECURITY.has(name)) {
    const data = (parsed as unknown as SecurityEventData).data;
    return {
      ...common,
      actor: data.actor,
      task_id: null,
      changes: {},
      // Where from and with what, covered by the chain like the rest.
      payload: { ...payload, client_address: data.client_address, user_agent: data.user_agent },
    };
  }
  const data = (parsed as unknown as TaskEventData).data;
  return { ...common, actor: data.user_id, task_id: data.task_id, changes: payload.changes ?? {}, payload };
}

/**
 * Whose email an entry tells for sure (ADR 0025): a successful login names the account's stored
 * email, a self-registration that created an account the new account's. A failed login names
 * what was typed, and an admin's registration of someone else has the admin as actor: neither.
 */
export function identityOf(entry: AuditEntry): { user_id: string; email: string } | undefined {
  const payload = entry.payload as { email?: unknown; by?: unknown; outcome?: unknown };
  if (!entry.actor || typeof payload?.email !== 'string') return undefined;
  const told =
    entry.action === 'auth.login_succeeded' ||
    (entry.action === 'auth.registered' && payload.by === 'self' && payload.outcome === 'created');
  return told ? { user_id: entry.actor, email: payload.email } : undefined;
}

export type Recorded = 'inserted' | 'duplicate';

interface Pending {
  entry: AuditEntry;
  resolve(result: Recorded): void;
  reject(err: unknown): void;
}

const MAX_BATCH = 500;

/**
 * Keeps the newest email per actor of the entries (one row per actor: an upsert may not touch a
 * row twice); an event delivered late does not replace what a newer one told.
 */
async function rememberActors(client: Queryable, entries: AuditEntry[]) {
  const newest = new Map<string, { email: string; time: string }>();
  for (const entry of entries) {
    const identity = identityOf(entry);
    if (!identity) continue;
    const known = newest.get(identity.user_id);
    if (!known || Date.parse(known.time) < Date.parse(entry.time))
      newest.set(identity.user_id, { email: identity.email, time: entry.time });
  }
  if (newest.size === 0) return;
  const actors = [...newest.entries()];
  await client.query(
    `INSERT INTO audit_actors (user_id, email, seen_at)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, seen_at = excluded.seen_at
     WHERE audit_actors.seen_at < excluded.seen_at`,
    [actors.map(([id]) => id), actors.map(([, a]) => a.email), actors.map(([, a]) => a.time)],
  );
}

/**
 * Appends entries to the one hash chain. The chain head row is locked for the transaction, so
 * writers of every process and replica take turns; the duplicate check runs under the same
 * lock, so a redelivered event never gets a second row.
 *
 * Entries that arrive while a transaction is being written (the bus hands over several users'
 * events at once) are written together in the next one: one commit, one lock turn and one WAL
 * flush for the lot. A batch that fails is retried entry by entry, so one bad entry fails alone.
 */
export function createRecorder(pool: Pool | (() => Pool), partitions: PartitionManager) {
  const poolOf = typeof pool === 'function' ? pool : () => pool;
  let queue: Pending[] = [];
  let writing = false;

  async function drain() {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, MAX_BATCH);
        queue = queue.slice(batch.length);
        try {
          const results = await writeBatch(batch.map((p) => p.entry));
          for (const [i, p] of batch.entries()) p.resolve(results[i]!);
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          for (const p of batch) {
            await writeBatch([p.entry]).then(
              ([result]) => p.resolve(result!),
              (e) => p.reject(e),
            );
          }
        }
      }
    } finally {
      writing = false;
    }
  }

  async function writeBatch(entries: AuditEntry[]): Promise<Recorded[]> {
    const times = entries.map((e) => new Date(e.time));
    for (const time of times) await partitions.ensure(time);
    try {
      return await withTransaction(poolOf(), async (client) => {
        // Lock the head first; the duplicate check is a statement of its own so that its snapshot,
        // taken after the lock was granted, sees every row committed by the previous holder.
        const { rows } = await client.query('SELECT last_id, last_hash FROM audit_chain_head FOR UPDATE');
        const head = rows[0];
        if (!head) throw new Error('audit_chain_head is empty: the audit migrations did not run');
        const existing = await client.query<{ i: number }>(
          `SELECT k.i::int AS i FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS k(event_id, time, i)
           JOIN audit_logs a ON a.event_id = k.event_id AND a.time = k.time`,
          [entries.map((e) => e.event_id), entries.map((e) => e.time)],
        );
        // Entries already written, by position (the query counts from 1).
        const written = new Set(existing.rows.map((r) => r.i - 1));
        // Times are normalised ISO strings (entryOf), so equal instants compare equal as text.
        const seen = new Set<string>();
        let lastId = BigInt(head.last_id);
        let lastHash: string = head.last_hash;
        const results: Recorded[] = [];
        const rowsToInsert: (ChainedContent & { hash: string })[] = [];
        entries.forEach((entry, i) => {
          const key = `${entry.event_id}|${entry.time}`;
          if (written.has(i) || seen.has(key)) {
            results.push('duplicate');
            return;
          }
          seen.add(key);
          lastId += 1n;
          const content: ChainedContent = { ...entry, id: lastId.toString(), prev_hash: lastHash };
          lastHash = rowHash(content);
          rowsToInsert.push({ ...content, hash: lastHash });
          results.push('inserted');
        });
        if (rowsToInsert.length === 0) return results;
        const column = <K extends keyof (ChainedContent & { hash: string })>(k: K) =>
          rowsToInsert.map((r) => r[k]);
        const json = (k: 'changes' | 'payload') => rowsToInsert.map((r) => JSON.stringify(r[k]));
        await client.query(
          `WITH inserted AS (
             INSERT INTO audit_logs (id, event_id, time, actor, action, task_id, changes, trace_id, source, payload, prev_hash, hash)
             SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::uuid[], $5::text[], $6::uuid[], $7::jsonb[],
               $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[])
           )
           UPDATE audit_chain_head SET last_id = $13, last_hash = $14`,
          [
            column('id'),
            column('event_id'),
            column('time'),
            column('actor'),
            column('action'),
            column('task_id'),
            json('changes'),
            column('trace_id'),
            column('source'),
            json('payload'),
            column('prev_hash'),
            column('hash'),
            lastId.toString(),
            lastHash,
          ],
        );
        await rememberActors(client, rowsToInsert);
        return results;
      });
    } catch (err) {
      // No partition for a row (dropped since it was cached): look again on the retry.
      if ((err as { code?: string }).code === '23514') for (const time of times) partitions.forget(time);
      throw err;
    }
  }

  return function record(entry: AuditEntry): Promise<Recorded> {
    return new Promise<Recorded>((resolve, reject) => {
      queue.push({ entry, resolve, reject });
      if (!writing) void drain();
    });
  };
}
