/**
 * The user's advisory lock, for the user id `userId` (an SQL expression of type uuid). Every
 * statement that writes a user's events takes it before its first write gives the transaction
 * its id, so one user's transactions take their ids in sequence order (the bus publishes one key's
 * transactions in id order). One expression, so every writer locks the same key.
 */
export const userLock = (userId: string) => `pg_advisory_xact_lock(hashtextextended((${userId})::text, 0))`;

/**
 * Common table expressions, in one statement with the change, that take each changed task's
 * user's next sequence: `gate` is a CTE with a row (id, user_id) per task that did change (no
 * row, no sequence; one task per user in a statement). `task_sequences` then has (id, sequence)
 * per changed task, for the events the caller publishes in the same transaction.
 */
export const nextSequences = (gate: string) => `next_sequence AS (
       INSERT INTO user_sequences (user_id, last_sequence) SELECT user_id, 1 FROM ${gate}
       ON CONFLICT (user_id) DO UPDATE SET last_sequence = user_sequences.last_sequence + 1
       RETURNING user_id, last_sequence
     ), task_sequences AS (
       SELECT g.id, s.last_sequence AS sequence FROM ${gate} g JOIN next_sequence s ON s.user_id = g.user_id
     )`;
