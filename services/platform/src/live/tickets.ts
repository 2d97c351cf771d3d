import { createHash, randomBytes } from 'node:crypto';
import type { Migration, Pool } from '../db.js';

/**
 * Stream tickets: what a browser's EventSource (which cannot set an Authorization header) shows
 * instead of the token. A ticket is random (not a token: it opens one stream and nothing else),
 * stored only as its hash, bound to one stream path, redeemable once and only within
 * `STREAM_TICKET_TTL_MS`, so the copy that lands in a proxy's access log is worth nothing. It
 * carries the token's `exp`: the stream it opens still ends when the token would have (ADR 0019).
 * In PostgreSQL, so that any replica redeems what another issued.
 */
export const liveMigrations: Migration[] = [
  {
    id: '001_stream_tickets',
    sql: `
      CREATE TABLE stream_tickets (
        ticket_hash bytea PRIMARY KEY,
        stream text NOT NULL,
        user_id text NOT NULL,
        role text NOT NULL,
        token_expires_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX stream_tickets_expires_at ON stream_tickets (expires_at);
    `,
  },
];

export const STREAM_TICKET_TTL_MS = 30_000;

const hashOf = (ticket: string) => createHash('sha256').update(ticket).digest();

export interface TicketHolder {
  userId: string;
  role: 'user' | 'admin';
  /** The `exp` of the token the ticket was issued for (ms since the epoch). */
  tokenExpiresAt: number;
}

export async function issueTicket(pool: Pool, stream: string, holder: TicketHolder): Promise<string> {
  const ticket = randomBytes(32).toString('base64url');
  const expiresAt = Math.min(Date.now() + STREAM_TICKET_TTL_MS, holder.tokenExpiresAt);
  // Each issue also clears a few expired tickets: the table stays as small as the last half minute.
  await pool.query(
    `WITH pruned AS (
       DELETE FROM stream_tickets WHERE ticket_hash IN (
         SELECT ticket_hash FROM stream_tickets WHERE expires_at < now() LIMIT 100))
     INSERT INTO stream_tickets (ticket_hash, stream, user_id, role, token_expires_at, expires_at)
     VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0), to_timestamp($6 / 1000.0))`,
    [hashOf(ticket), stream, holder.userId, holder.role, holder.tokenExpiresAt, expiresAt],
  );
  return ticket;
}

/** The holder of a ticket for `stream`, once: the row goes in the same statement. */
export async function redeemTicket(
  pool: Pool,
  stream: string,
  ticket: string,
): Promise<TicketHolder | undefined> {
  if (ticket.length > 100) return undefined;
  const { rows } = await pool.query<{ user_id: string; role: string; token_expires_at: Date }>(
    `DELETE FROM stream_tickets WHERE ticket_hash = $1
     RETURNING user_id, role, token_expires_at, (expires_at > now() AND stream = $2) AS valid`,
    [hashOf(ticket), stream],
  );
  const row = rows[0] as ({ valid: boolean } & (typeof rows)[0]) | undefined;
  if (!row?.valid) return undefined;
  return {
    userId: row.user_id,
    role: row.role === 'admin' ? 'admin' : 'user',
    tokenExpiresAt: row.token_expires_at.getTime(),
  };
}
