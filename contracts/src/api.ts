import { z } from 'zod';
import { Cursor, DateTime, ErrorBody, Limit, page, StoredText, TimeZone, wellFormed } from './common.js';
import { EventNames } from './events.js';
import {
  CreateDepositBody,
  CreateTransactionBody,
  CreateWalletBody,
  FailTransactionBody,
  ListTransactionsQuery,
  Transaction,
  TransactionIdParams,
  TransactionPage,
  Wallet,
  WalletIdParams,
  WalletPage,
} from './payments.js';
import {
  Channel,
  CreateTaskBody,
  ListTasksQuery,
  Recurrence,
  Task,
  TaskPage,
  UpdateTaskBody,
} from './tasks.js';
import {
  AuthResponse,
  ChangePasswordBody,
  CreateUserBody,
  LoginBody,
  RegisterAccepted,
  RegisterBody,
  UserResponse,
} from './users.js';

export const RecurrencePreviewBody = z
  .strictObject({
    rule: Recurrence.shape.rule,
    start: DateTime,
    time_zone: TimeZone.default('UTC'),
    anchor: Recurrence.shape.anchor,
    month_end: z.enum(['skip', 'clamp']).default('skip'),
    count: z.number().int().min(1).max(100).default(5),
  })
  .meta({ id: 'RecurrencePreviewBody' });
export type RecurrencePreviewBody = z.infer<typeof RecurrencePreviewBody>;
export const RecurrencePreview = z
  .object({ occurrences: z.array(z.string().describe('ISO-8601 with the zone offset')) })
  .meta({ id: 'RecurrencePreview' });

export const Notification = z
  .object({
    id: z.string(),
    task_id: z.uuid().nullable(),
    title: z.string(),
    body: z.string(),
    read: z.boolean(),
    created_at: DateTime,
  })
  .meta({ id: 'Notification' });
export const NotificationPage = page(Notification)
  .extend({ unread: z.number().int() })
  .meta({ id: 'NotificationPage' });
export const ListNotificationsQuery = z.strictObject({
  unread: z.enum(['true', 'false']).optional(),
  cursor: Cursor.optional(),
  limit: Limit.default(50),
});

export const PushSubscriptionBody = z
  .strictObject({
    endpoint: wellFormed(z.url())
      .max(2048)
      .describe(
        "the browser's push service URL: https, no credentials, a host that resolves to public addresses only (and, with PUSH_ALLOWED_HOSTS, a known push service); else 400 naming `endpoint`. Which endpoints pass depends on the deployment's settings and DNS, which no schema can state",
      ),
    // Milliseconds since the epoch (PushSubscription.expirationTime); stored as a bigint.
    expirationTime: z.number().int().min(0).max(8.64e15).nullable().optional(),
    keys: z.strictObject({ p256dh: StoredText().min(1).max(200), auth: StoredText().min(1).max(100) }),
  })
  .meta({ id: 'PushSubscriptionBody' });
export const DeletePushSubscriptionBody = z.strictObject({ endpoint: wellFormed(z.url()).max(2048) });
export const VapidKey = z.object({ public_key: z.string() }).meta({ id: 'VapidKey' });

/** Reminder mail kept locally when no SMTP server is configured (the embedded default). */
export const MailboxMessage = z
  .object({
    id: z.string(),
    message_id: z.string(),
    to: z.string(),
    from: z.string(),
    subject: z.string(),
    text: z.string(),
    html: z.string().nullable(),
    created_at: DateTime,
  })
  .meta({ id: 'MailboxMessage' });
export const MailboxPage = page(MailboxMessage)
  .extend({
    mode: z.enum(['smtp', 'mailbox']).describe('smtp: mail goes to SMTP_URL and this list stays empty'),
  })
  .meta({ id: 'MailboxPage' });
export const ListMailboxQuery = z.strictObject({ cursor: Cursor.optional(), limit: Limit.default(50) });

export const Preferences = z
  .strictObject({
    channels: z.array(Channel).default(['email', 'push', 'in_app']),
    quiet_hours: z
      .strictObject({
        start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
        end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
        time_zone: TimeZone,
      })
      .nullable()
      .default(null),
  })
  .meta({ id: 'Preferences' });

export const AuditLog = z
  .object({
    id: z.string(),
    event_id: z.uuid(),
    time: DateTime,
    actor: z
      .uuid()
      .nullable()
      .describe('null: a security event of no known account (a failed login of an unknown email)'),
    action: z.string(),
    actor_email: z
      .string()
      .nullable()
      .describe(
        "the actor's email as the audit trail last saw it at a login or self-registration; null when it never saw one (an account that has not logged in since security events were recorded, an external identity provider's user). Only admins see rows, hence emails, of other users",
      ),
    task_id: z.uuid().nullable().describe('null for security events (auth.*, admin.*, audit.*)'),
    task_title: z
      .string()
      .nullable()
      .describe("the task's title as this event carried it (so at that time); null for security events"),
    changes: z.record(z.string(), z.object({ before: z.unknown(), after: z.unknown() })),
    trace_id: z.string().nullable(),
    source: z.string(),
    payload: z.unknown(),
    hash: z.string(),
  })
  .meta({ id: 'AuditLog' });
export const AuditLogQuery = z
  .strictObject({
    user_id: z
      .uuid()
      .optional()
      .describe(
        "only this user's rows (for admins). A non-admin who names another user's id gets nothing back (an empty page or export), never that user's rows; their own id, or none, gives their own rows",
      ),
    actor_email: z
      .email()
      .max(254)
      .optional()
      .describe(
        'only rows of the account with this email (any letter case), as the audit trail knows it from logins and registrations; an email it does not know gives an empty page. As with user_id, a non-admin gets only their own rows',
      ),
    task_id: z.uuid().optional(),
    event_type: StoredText().max(100).optional(),
    start_date: DateTime.optional().describe(
      'from this instant on (inclusive); after `end_date` it is refused (400), an order JSON Schema cannot state',
    ),
    end_date: DateTime.optional().describe('before this instant (exclusive)'),
    q: StoredText().max(200).optional(),
    cursor: Cursor.optional(),
    limit: Limit.default(50),
  })
  .meta({ id: 'AuditLogQuery' });
export const AuditLogPage = page(AuditLog).meta({ id: 'AuditLogPage' });
export const AuditExportQuery = AuditLogQuery.omit({ cursor: true, limit: true }).extend({
  format: z.enum(['csv', 'ndjson']).default('ndjson'),
});
export const AuditVerifyQuery = z.strictObject({
  start_date: DateTime.optional(),
  end_date: DateTime.optional(),
});
export const AuditVerifyResult = z
  .object({ ok: z.boolean(), checked: z.number().int(), first_broken: z.string().nullable() })
  .meta({ id: 'AuditVerifyResult' });
export type AuditVerifyResult = z.infer<typeof AuditVerifyResult>;

export const SyncEventsQuery = z.strictObject({
  since: z.coerce.number().int().min(0).default(0),
  limit: Limit.default(200),
});
export const SyncMessage = z
  .object({
    type: z.enum(['event', 'resync', 'hello']),
    sequence: z.number().int().optional(),
    event: z.unknown().optional(),
  })
  .meta({ id: 'SyncMessage' });
export const SyncEvents = z
  .object({
    events: z.array(SyncMessage),
    resync: z.boolean(),
    latest: z
      .number()
      .int()
      .optional()
      .describe("the user's current sync sequence; after a resync, continue from here"),
  })
  .meta({ id: 'SyncEvents' });

export const DeadLetter = z
  .object({
    id: z.string(),
    topic: z.string(),
    consumer: z.string(),
    reason: z.string(),
    attempts: z.number().int(),
    first_failed_at: DateTime,
    last_failed_at: DateTime,
    event: z.unknown(),
    status: z.enum(['pending', 'replayed', 'discarded']),
    status_reason: z
      .string()
      .nullable()
      .optional()
      .describe('why it was discarded (the reason the admin gave); null while pending'),
    status_by: z
      .string()
      .nullable()
      .optional()
      .describe('who last replayed or discarded it (user id); null while pending'),
    status_at: DateTime.nullable().optional().describe('when it was last replayed or discarded'),
  })
  .meta({ id: 'DeadLetter' });
export type DeadLetter = z.infer<typeof DeadLetter>;
export const DiscardDeadLetterBody = z
  .strictObject({ reason: StoredText().trim().min(1).max(1000) })
  .meta({ id: 'DiscardDeadLetterBody' });
export const ReplayTopicQuery = z.strictObject({ topic: StoredText().min(1).max(200) });
export const ReplayTopicResult = z.object({ replayed: z.number().int() }).meta({ id: 'ReplayTopicResult' });
export const DeadLetterQuery = z.strictObject({
  topic: StoredText().max(200).optional(),
  consumer: StoredText().max(200).optional(),
  status: z.enum(['pending', 'replayed', 'discarded']).optional(),
  cursor: Cursor.optional(),
  limit: Limit.default(50),
});
export const DeadLetterPage = page(DeadLetter).meta({ id: 'DeadLetterPage' });
export const AdminStats = z
  .object({
    topics: z.record(z.string(), z.object({ events_per_second: z.number(), total: z.number() })),
    consumers: z.record(z.string(), z.object({ lag: z.number() })),
    consumer_lag: z
      .object({ available: z.boolean(), reason: z.string().optional() })
      .describe(
        'whether `consumers` is measured (under Dapr only when task-api has KAFKA_BROKERS); `reason` says why not, so an empty `consumers` is never mistaken for no lag',
      ),
    dlq_size: z.number().int(),
    outbox_backlog: z.number().int(),
  })
  .meta({ id: 'AdminStats' });

/**
 * A projection rebuilt from the kept event log (ADR 0024): one bounded chunk per request, from
 * `from` on; `next_from` continues where the chunk stopped (null: the log was read to its end).
 */
export const ProjectionReplayBody = z
  .strictObject({
    from: z
      .string()
      .max(40)
      .regex(/^(\d{1,18}|\d{4}-\d{2}-\d{2}[0-9T:.,+\-Z]*)$/, 'an ISO-8601 time or a log position')
      .optional()
      .describe('an ISO-8601 time (rows written at or after it) or a log position (row id)'),
    dry_run: z.boolean().default(false),
    limit: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(2_000)
      .describe('log rows read at most by this request'),
  })
  .meta({ id: 'ProjectionReplayBody' });
export const ProjectionReplayResult = z
  .object({
    projection: z.enum(['audit', 'sync']),
    dry_run: z.boolean(),
    read: z.number().int(),
    applied: z.number().int(),
    skipped_as_duplicate: z.number().int(),
    ignored: z.number().int(),
    invalid: z.number().int(),
    remaining: z.number().int().describe('log rows after this chunk (from `next_from` on)'),
    next_from: z.string().nullable().describe('the log position to continue from; null when done'),
  })
  .meta({ id: 'ProjectionReplayResult' });
export type ProjectionReplayResult = z.infer<typeof ProjectionReplayResult>;

export const DisableUserBody = z
  .strictObject({ reason: StoredText().trim().max(1000).optional() })
  .meta({ id: 'DisableUserBody' });
/** A user's id, or their email (the admin tools take either). */
export const UserRefParams = z.strictObject({ id: StoredText().min(1).max(320) });
export const DisabledUser = z
  .object({
    user: z.object({ id: z.uuid(), email: z.string(), disabled_at: DateTime }),
  })
  .meta({ id: 'DisabledUser' });
export type DisabledUser = z.infer<typeof DisabledUser>;

export const MigrationStatus = z
  .object({
    scopes: z.array(
      z.object({
        scope: z.string().describe('a service, or a platform part (platform, outbox, ops, identity)'),
        applied: z.array(z.object({ id: z.string(), applied_at: DateTime })),
        pending: z
          .array(z.string())
          .describe(
            "known to task-api's build and not applied (other services' own are listed as applied only)",
          ),
      }),
    ),
  })
  .meta({ id: 'MigrationStatus' });
export type MigrationStatus = z.infer<typeof MigrationStatus>;

export const Health = z.object({
  status: z.enum(['ok', 'ready', 'not_ready']),
  checks: z.record(z.string(), z.string()).optional(),
});

/** `{id}` of `/api/tasks/{id}…`. */
export const TaskIdParams = z.strictObject({ id: z.uuid() });
export const NotificationIdParams = z.strictObject({ id: z.uuid() });
/** A dead letter's id is its row number. */
export const DeadLetterIdParams = z.strictObject({ id: z.string().regex(/^\d{1,18}$/) });
/** A live filter's comma-separated values, as platform/live/protocol.ts listParam reads them (empty: all). */
function commaList(one: string): RegExp {
  return new RegExp(`^(?:${one}(?:,${one})*)?$`);
}
const statusList = (statuses: string[]) => commaList(`(?:${statuses.join('|')})`);
const uuidList = commaList('[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}');
/** The largest live-stream position a client may send (15 digits; positions count events). */
export const LIVE_POSITION_MAX = 999_999_999_999_999;
/**
 * `WS /ws/tasks?since=<seq>`. The JWT travels as the subprotocol after `bearer`
 * (`Sec-WebSocket-Protocol: bearer, <jwt>`; browsers: `new WebSocket(url, ['bearer', jwt])`),
 * never in the query, which logs keep: a `token` parameter is refused (close code 4400).
 */
export const LiveEventsQuery = z.strictObject({
  since: z.coerce.number().int().min(0).max(LIVE_POSITION_MAX).optional(),
  task_id: StoredText()
    .optional()
    .describe('only these tasks (comma-separated ids, or the parameter repeated)'),
  status: z
    .string()
    .regex(statusList(['pending', 'completed']))
    .optional()
    .describe('only tasks with these statuses (pending, completed; comma-separated)'),
  tag: StoredText().optional().describe('only tasks with one of these tags (comma-separated)'),
});

/**
 * `GET /api/sync/stream` (Server-Sent Events): the WebSocket's filters, and how an EventSource
 * authenticates: a `ticket` from `POST /api/sync/stream/ticket` (single use, 30 s), since it
 * cannot send an Authorization header. A `token` parameter is refused (400) like on the WebSocket.
 */
export const SyncStreamQuery = LiveEventsQuery.extend({
  ticket: StoredText()
    .max(100)
    .optional()
    .describe('a single-use stream ticket (POST /api/sync/stream/ticket); or send Authorization: Bearer'),
});
/**
 * `WS /ws/transactions` (the payments tracker, ADR 0017/0019): the same frames, positions and
 * close codes as `/ws/tasks`, with filters of its own. A user follows the transactions touching
 * their wallets (a `wallet_id` or `transaction_id` that is not theirs: 4404 / 404, as REST
 * answers); admins follow all.
 */
export const TrackerQuery = z.strictObject({
  since: z.coerce.number().int().min(0).max(LIVE_POSITION_MAX).optional(),
  transaction_id: z
    .string()
    .regex(uuidList)
    .optional()
    .describe('only these transactions (comma-separated uuids, or the parameter repeated)'),
  wallet_id: z
    .string()
    .regex(uuidList)
    .optional()
    .describe('only transactions debiting or crediting these wallets (comma-separated uuids)'),
  status: z
    .string()
    .regex(statusList(['created', 'held', 'completed', 'failed', 'reversed']))
    .optional()
    .describe(
      'only events leaving a transaction in these statuses (created, held, completed, failed, reversed)',
    ),
});
/** `GET /api/transactions/stream` (SSE): the tracker's filters, and a ticket for an EventSource. */
export const TrackerStreamQuery = TrackerQuery.extend({
  ticket: StoredText()
    .max(100)
    .optional()
    .describe(
      'a single-use stream ticket (POST /api/transactions/stream/ticket); or send Authorization: Bearer',
    ),
});
export const StreamTicket = z
  .object({
    ticket: z.string().describe('opens one stream, once, within expires_in seconds'),
    expires_in: z.number().int(),
  })
  .meta({ id: 'StreamTicket' });
export const LiveConnections = z
  .object({
    replica: z.string().describe('the replica that answered; each counts only its own connections'),
    scope: z.enum(['all', 'own']).describe('admins see every connection, users their own'),
    streams: z.array(
      z.object({
        stream: z.string(),
        connections: z.number().int(),
        transports: z.object({ websocket: z.number().int(), sse: z.number().int() }),
        users: z.number().int().optional().describe('admins only'),
        buffered_bytes: z.number().int().optional().describe('admins only'),
      }),
    ),
  })
  .meta({ id: 'LiveConnections' });

/** The admin topic browser (ADR 0019): the topics of the runtime's bus, and pages of their messages. */
export const TopicList = z
  .object({
    topics: z.array(
      z.object({
        topic: z.string(),
        partitions: z.array(
          z.object({
            partition: z.number().int(),
            start: z.number().int().describe('the oldest kept position'),
            end: z.number().int().describe('the next position to be written'),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'TopicList' });
export const TopicParams = z.strictObject({
  topic: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/)
    .describe('a topic name as Kafka allows it'),
});
export const TopicMessagesQuery = z
  .strictObject({
    partition: z.coerce.number().int().min(0).max(100_000).default(0),
    from: z.coerce
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'start at this position (Kafka: the offset; embedded: the event log id); default: the oldest kept',
      ),
    since: DateTime.optional().describe('start at the first message at or after this time (instead of from)'),
    key: StoredText().max(200).optional().describe('only messages with this key (the partition key)'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .refine((q) => q.from === undefined || q.since === undefined, {
    message: 'from or since, not both',
    path: ['since'],
  });
export const TopicMessage = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    position: z.number().int(),
    key: z.string().nullable(),
    timestamp: z.string(),
    headers: z.record(z.string(), z.string()),
    event: z.unknown().describe('the CloudEvent (the value as JSON, or its text when it is not JSON)'),
  })
  .meta({ id: 'TopicMessage' });
export const TopicMessagePage = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    messages: z.array(TopicMessage),
    next: z
      .number()
      .int()
      .nullable()
      .describe(
        'the `from` of the next page (a key filter scans a bounded stretch: it may come with no messages); null at the end',
      ),
  })
  .meta({ id: 'TopicMessagePage' });

/** The public REST surface; contracts/scripts/generate.ts turns this table into OpenAPI 3.1. */
export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  auth: 'none' | 'user' | 'admin';
  body?: z.ZodTypeAny;
  query?: z.ZodTypeAny;
  /** Path parameters (`{name}` in `path`); a parameter not described here is a plain string. */
  params?: z.ZodTypeAny;
  headers?: Record<string, string>;
  /** Headers of `headers` the request must carry (the API answers 400 without them). */
  requiredHeaders?: string[];
  responses: Record<number, z.ZodTypeAny | null | 'text'>;
  /** Media types of a `'text'` response (default `text/plain`). */
  textTypes?: string[];
  /** A WebSocket upgrade: the server then sends `SyncMessage` JSON frames (not an HTTP handler). */
  websocket?: true;
}

const idempotencyRequired = {
  'Idempotency-Key':
    'required (1 to 255 characters): the same key and body answer with the first outcome; another body gives 422',
};
const transactionId = '/api/transactions/{id}';
/** Wallets and transactions (ADR 0017); a wallet or transaction the caller may not see is a 404. */
const paymentRoutes: RouteSpec[] = [
  {
    method: 'get',
    path: '/api/wallets',
    summary: "The caller's wallets (admins: every wallet, the system wallets included)",
    auth: 'user',
    responses: { 200: WalletPage },
  },
  {
    method: 'post',
    path: '/api/wallets',
    summary: 'Open a wallet in a currency',
    auth: 'user',
    body: CreateWalletBody,
    headers: idempotencyRequired,
    requiredHeaders: ['Idempotency-Key'],
    responses: { 201: Wallet, 400: ErrorBody, 422: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/wallets/{id}',
    summary: 'A wallet and its balance',
    auth: 'user',
    params: WalletIdParams,
    responses: { 200: Wallet, 404: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/wallets/{id}/deposits',
    summary: "Fund a wallet from the system's funding wallet of its currency (completed at once)",
    auth: 'admin',
    params: WalletIdParams,
    body: CreateDepositBody,
    headers: idempotencyRequired,
    requiredHeaders: ['Idempotency-Key'],
    responses: { 201: Transaction, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/transactions',
    summary: "Transactions touching the caller's wallets (admins: all), newest first",
    auth: 'user',
    query: ListTransactionsQuery,
    responses: { 200: TransactionPage, 400: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/transactions',
    summary:
      'Request a transfer or a withdrawal from an own wallet: created now, completed or failed (or held) once scored for fraud',
    auth: 'user',
    body: CreateTransactionBody,
    headers: idempotencyRequired,
    requiredHeaders: ['Idempotency-Key'],
    responses: { 201: Transaction, 400: ErrorBody, 404: ErrorBody, 422: ErrorBody },
  },
  {
    method: 'get',
    path: '/ws/transactions',
    summary:
      "WebSocket: the payments tracker, live `transaction.*` events of the caller's wallets (admins: all) from `since` on, as SyncMessage frames; the JWT as the subprotocol after `bearer`",
    auth: 'user',
    query: TrackerQuery,
    websocket: true,
    responses: { 101: null, 401: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/transactions/stream',
    summary:
      "Server-Sent Events: the payments tracker, as over /ws/transactions (each event's `id` is its sequence; `event` is event, resync or hello; a last `close` event carries the close code)",
    auth: 'user',
    query: TrackerStreamQuery,
    headers: {
      'Last-Event-ID':
        'resume after this sequence (what an EventSource sends when it reconnects); wins over since',
    },
    responses: { 200: 'text', 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
    textTypes: ['text/event-stream'],
  },
  {
    method: 'post',
    path: '/api/transactions/stream/ticket',
    summary: 'A single-use ticket (30 s) that opens GET /api/transactions/stream from an EventSource',
    auth: 'user',
    responses: { 201: StreamTicket },
  },
  {
    method: 'get',
    path: transactionId,
    summary: 'A transaction',
    auth: 'user',
    params: TransactionIdParams,
    responses: { 200: Transaction, 404: ErrorBody },
  },
  {
    method: 'post',
    path: `${transactionId}/reverse`,
    summary: 'Reverse a completed transaction by compensating entries',
    auth: 'admin',
    params: TransactionIdParams,
    responses: { 200: Transaction, 404: ErrorBody, 409: ErrorBody },
  },
  {
    method: 'post',
    path: `${transactionId}/release`,
    summary: 'Release a held transaction: it completes, or fails for funds',
    auth: 'admin',
    params: TransactionIdParams,
    responses: { 200: Transaction, 404: ErrorBody, 409: ErrorBody },
  },
  {
    method: 'post',
    path: `${transactionId}/fail`,
    summary: 'Fail a held transaction (reason fraud_suspected unless given)',
    auth: 'admin',
    params: TransactionIdParams,
    body: FailTransactionBody,
    responses: { 200: Transaction, 404: ErrorBody, 409: ErrorBody },
  },
];

const taskId = '/api/tasks/{id}';
/** Served by the projection's own service, under the paths the Ingress routes to it. */
const projectionReplayRoute = (path: string, what: string): RouteSpec => ({
  method: 'post',
  path,
  summary: `Rebuild ${what} from the kept event log, one bounded chunk (one run at a time)`,
  auth: 'admin',
  body: ProjectionReplayBody,
  responses: { 200: ProjectionReplayResult, 400: ErrorBody, 409: ErrorBody },
});
export const Routes: RouteSpec[] = [
  {
    method: 'post',
    path: '/api/auth/register',
    summary: 'Register a user (the same answer whether or not the email has an account; then log in)',
    auth: 'none',
    body: RegisterBody,
    responses: { 202: RegisterAccepted, 400: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/auth/login',
    summary: 'Log in',
    auth: 'none',
    body: LoginBody,
    responses: { 200: AuthResponse, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/auth/password',
    summary: 'Change the own password (the current one is required)',
    auth: 'user',
    body: ChangePasswordBody,
    responses: { 204: null, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/admin/users',
    summary: 'Create an account (the way in when REGISTRATION=closed)',
    auth: 'admin',
    body: CreateUserBody,
    responses: { 201: UserResponse, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/auth/me',
    summary: 'The caller, as the token names them',
    auth: 'user',
    responses: { 200: UserResponse, 401: ErrorBody, 404: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/tasks',
    summary: "List the caller's tasks",
    auth: 'user',
    query: ListTasksQuery,
    responses: { 200: TaskPage },
  },
  {
    method: 'post',
    path: '/api/tasks',
    summary: 'Create a task',
    auth: 'user',
    body: CreateTaskBody,
    headers: { 'Idempotency-Key': 'same key and body return the first response; another body gives 422' },
    responses: { 201: Task, 400: ErrorBody, 422: ErrorBody },
  },
  {
    method: 'get',
    path: taskId,
    summary: 'Get a task',
    auth: 'user',
    params: TaskIdParams,
    responses: { 200: Task, 404: ErrorBody },
  },
  {
    method: 'patch',
    path: taskId,
    summary: 'Change a task',
    auth: 'user',
    params: TaskIdParams,
    body: UpdateTaskBody,
    headers: { 'If-Match': 'the version the change is based on; 412 when stale' },
    responses: { 200: Task, 404: ErrorBody, 412: ErrorBody },
  },
  {
    method: 'delete',
    path: taskId,
    summary: 'Delete a task',
    auth: 'user',
    params: TaskIdParams,
    responses: { 204: null, 404: ErrorBody },
  },
  {
    method: 'post',
    path: `${taskId}/complete`,
    summary: 'Complete a task',
    auth: 'user',
    params: TaskIdParams,
    responses: { 200: Task, 404: ErrorBody },
  },
  {
    method: 'post',
    path: `${taskId}/reopen`,
    summary: 'Reopen a task',
    auth: 'user',
    params: TaskIdParams,
    responses: { 200: Task, 404: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/recurrence/preview',
    summary: 'Preview the next occurrences of a rule',
    auth: 'user',
    body: RecurrencePreviewBody,
    responses: { 200: RecurrencePreview, 400: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/notifications',
    summary: 'In-app inbox',
    auth: 'user',
    query: ListNotificationsQuery,
    responses: { 200: NotificationPage },
  },
  {
    method: 'post',
    path: '/api/notifications/{id}/read',
    summary: 'Mark a notification read',
    auth: 'user',
    params: NotificationIdParams,
    responses: { 204: null, 404: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/preferences',
    summary: 'Notification preferences',
    auth: 'user',
    responses: { 200: Preferences },
  },
  {
    method: 'post',
    path: '/api/preferences',
    summary: 'Set notification preferences',
    auth: 'user',
    body: Preferences,
    responses: { 200: Preferences },
  },
  {
    method: 'put',
    path: '/api/preferences',
    summary: 'Set notification preferences',
    auth: 'user',
    body: Preferences,
    responses: { 200: Preferences, 400: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/notifications/read-all',
    summary: 'Mark every notification read',
    auth: 'user',
    responses: { 204: null },
  },
  {
    method: 'get',
    path: '/api/mailbox',
    summary: 'Reminder mail kept locally (no SMTP_URL)',
    auth: 'user',
    query: ListMailboxQuery,
    responses: { 200: MailboxPage },
  },
  {
    method: 'post',
    path: '/api/push/subscriptions',
    summary: 'Add a Web Push subscription',
    auth: 'user',
    body: PushSubscriptionBody,
    responses: { 201: null },
  },
  {
    method: 'delete',
    path: '/api/push/subscriptions',
    summary: 'Remove a Web Push subscription',
    auth: 'user',
    body: DeletePushSubscriptionBody,
    responses: { 204: null },
  },
  {
    method: 'get',
    path: '/api/push/vapid-public-key',
    summary: 'VAPID public key',
    auth: 'none',
    responses: { 200: VapidKey },
  },
  {
    method: 'get',
    path: '/api/audit-logs',
    summary: 'Audit trail (own rows; admins all)',
    auth: 'user',
    query: AuditLogQuery,
    responses: { 200: AuditLogPage },
  },
  {
    method: 'get',
    path: '/api/audit-logs/export',
    summary: 'Export the audit selection',
    auth: 'user',
    query: AuditExportQuery,
    responses: { 200: 'text' },
    textTypes: ['application/x-ndjson', 'text/csv'],
  },
  {
    method: 'get',
    path: '/api/audit-logs/verify',
    summary: 'Check the hash chain',
    auth: 'admin',
    query: AuditVerifyQuery,
    responses: { 200: AuditVerifyResult },
  },
  {
    method: 'get',
    path: '/api/sync/events',
    summary: "The caller's missed events",
    auth: 'user',
    query: SyncEventsQuery,
    responses: { 200: SyncEvents },
  },
  {
    method: 'get',
    path: '/ws/tasks',
    summary:
      "WebSocket: the caller's live events from `since` on; the JWT as the subprotocol after `bearer` (Sec-WebSocket-Protocol: bearer, <jwt>), closed with 4498 when it expires",
    auth: 'user',
    query: LiveEventsQuery,
    websocket: true,
    responses: { 101: null, 401: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/sync/stream',
    summary:
      "Server-Sent Events: the caller's live events, as over the WebSocket (each event's `id` is its sequence; `event` is event, resync or hello; comments are heartbeats; a last `close` event carries the WebSocket close code, e.g. 4498 at the token's exp, 4429 for a reader that fell behind)",
    auth: 'user',
    query: SyncStreamQuery,
    headers: {
      'Last-Event-ID':
        'resume after this sequence (what an EventSource sends when it reconnects); wins over since',
    },
    responses: { 200: 'text', 400: ErrorBody, 401: ErrorBody },
    textTypes: ['text/event-stream'],
  },
  {
    method: 'post',
    path: '/api/sync/stream/ticket',
    summary: 'A single-use ticket (30 s) that opens GET /api/sync/stream from an EventSource',
    auth: 'user',
    responses: { 201: StreamTicket },
  },
  {
    method: 'get',
    path: '/api/sync/connections',
    summary:
      'Live connections on the answering replica per stream and transport (admins: all; users: their own)',
    auth: 'user',
    responses: { 200: LiveConnections },
  },
  {
    method: 'get',
    path: '/api/admin/dlq',
    summary: 'Dead letters',
    auth: 'admin',
    query: DeadLetterQuery,
    responses: { 200: DeadLetterPage },
  },
  {
    method: 'get',
    path: '/api/admin/dlq/{id}',
    summary: 'One dead letter, with who replayed or discarded it and why',
    auth: 'admin',
    params: DeadLetterIdParams,
    responses: { 200: DeadLetter, 404: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/admin/dlq/{id}/replay',
    summary: 'Replay a dead letter to the consumer that failed it',
    auth: 'admin',
    params: DeadLetterIdParams,
    responses: { 202: null, 404: ErrorBody, 409: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/admin/dlq/replay',
    summary: 'Replay every pending dead letter of a topic',
    auth: 'admin',
    query: ReplayTopicQuery,
    responses: { 202: ReplayTopicResult },
  },
  {
    method: 'post',
    path: '/api/admin/dlq/{id}/discard',
    summary: 'Discard a dead letter with a reason (recorded)',
    auth: 'admin',
    params: DeadLetterIdParams,
    body: DiscardDeadLetterBody,
    responses: { 204: null, 404: ErrorBody },
  },
  {
    method: 'post',
    path: '/api/admin/users/{id}/disable',
    summary: 'Disable an account (by id or email): its logins and tokens are refused from then on',
    auth: 'admin',
    params: UserRefParams,
    body: DisableUserBody,
    responses: { 200: DisabledUser, 400: ErrorBody, 404: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/admin/migrations',
    summary: 'Applied and pending database migrations',
    auth: 'admin',
    responses: { 200: MigrationStatus },
  },
  projectionReplayRoute('/api/audit-logs/replay', 'the audit trail'),
  projectionReplayRoute('/api/sync/replay', 'the sync history'),
  {
    method: 'get',
    path: '/api/admin/topics',
    summary:
      "The bus's topics with their partitions' oldest and next positions (embedded: the event log; Dapr: Kafka)",
    auth: 'admin',
    responses: { 200: TopicList, 503: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/admin/topics/{topic}/messages',
    summary: 'A page of the messages on one partition of a topic, by position or time, optionally of one key',
    auth: 'admin',
    params: TopicParams,
    query: TopicMessagesQuery,
    responses: { 200: TopicMessagePage, 404: ErrorBody, 503: ErrorBody },
  },
  {
    method: 'get',
    path: '/api/admin/stats',
    summary: 'Throughput, lag, DLQ size, outbox backlog',
    auth: 'admin',
    responses: { 200: AdminStats },
  },
  ...paymentRoutes,
  { method: 'get', path: '/healthz', summary: 'Liveness', auth: 'none', responses: { 200: Health } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness',
    auth: 'none',
    responses: { 200: Health, 503: Health },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    auth: 'none',
    responses: { 200: 'text' },
    textTypes: ['text/plain; version=0.0.4'],
  },
];

export const KnownEventTypes = EventNames;
