import { AppIds } from '@taskstream/contracts';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const csvMs = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds, e.g. 1000,5000,25000')
  .transform((s) => s.split(',').map(Number));
/** `scheme://host[:port]` exactly as a browser sends it in `Origin` (lower case, no path). */
const isOrigin = (value: string) => {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
};

/**
 * The one configuration schema. Every variable of every service is here, with its default;
 * README's configuration table lists the same names.
 */
export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  TASKSTREAM_RUNTIME: z.enum(['embedded', 'dapr']).default('embedded'),
  /** The app id when one service runs alone (services/<svc>/dist/main.js). */
  APP_ID: z.enum(AppIds).optional(),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** A warning or error repeated within this interval is counted and logged once per interval; 0 logs every one. */
  LOG_REPEAT_INTERVAL_MS: z.coerce.number().int().min(0).default(10000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  /** Bound on opening a connection (and on waiting for a free one): a frozen database answers 503, not never. */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /**
   * Bound on one statement: PostgreSQL cancels it (statement_timeout) and the client gives up a
   * moment later when the server cannot even answer. 0 turns both off. Migrations are not bound.
   */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(10000),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  JWKS_URL: z.url().optional(),
  JWT_ISSUER: z.string().default('taskstream'),
  JWT_AUDIENCE: z.string().default('taskstream'),
  JWT_TTL_SECONDS: z.coerce.number().int().min(60).default(43200),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  RETRY_DELAYS_MS: csvMs.default([1000, 5000, 25000]),
  /** Unset: on, except in production (see loadConfig). */
  SEED_DEMO_USERS: bool.optional(),
  /** Services run their own migrations at start under an advisory lock; the chart's hook Job runs `main.js migrate`. */
  MIGRATE_ON_START: bool.default(true),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10000),
  EVENT_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(90),
  SYNC_HISTORY_SIZE: z.coerce.number().int().min(1).default(1000),
  /** Names this sync replica's consumer (`sync-<id>`); stable ids avoid re-reading the log after a restart. */
  SYNC_REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, ._- (at most 100)')
    .optional(),
  SYNC_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024),
  SYNC_HEARTBEAT_MS: z.coerce.number().int().min(50).max(15000).default(10000),
  SYNC_SLOW_CLOSE_GRACE_MS: z.coerce.number().int().min(0).default(5000),
  SYNC_INBOX_PRUNE_MS: z.coerce.number().int().min(1000).default(3600_000),
  /** Open `/ws/tasks` connections one user may hold on one sync replica; beyond it a new one is closed (4409). */
  SYNC_MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Origins whose pages may open `/ws/tasks` (comma-separated); unset: any. A request without `Origin` is not from a browser and passes. */
  SYNC_ALLOWED_ORIGINS: z
    .string()
    .transform((s) => s.split(',').map((o) => o.trim()))
    .pipe(
      z.array(z.string().refine(isOrigin, 'comma-separated origins, e.g. https://app.example.com (no path)')),
    )
    .optional(),
  /** Partition keys (users) one embedded consumer handles at once; one key is always in order. */
  BUS_KEY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'an smtp:// or smtps:// URL')
    .optional(),
  MAIL_FROM: z.string().default('taskstream <reminders@taskstream.local>'),
  // The formats web-push accepts (base64url, no padding): checked here rather than at the first push.
  VAPID_PUBLIC_KEY: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{87}$/,
      'a base64url P-256 public key (87 characters), as `npx web-push generate-vapid-keys` prints',
    )
    .optional(),
  VAPID_PRIVATE_KEY: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{43}$/,
      'a base64url P-256 private key (43 characters), as `npx web-push generate-vapid-keys` prints',
    )
    .optional(),
  VAPID_SUBJECT: z.string().default('mailto:admin@taskstream.local'),
  /** Host suffixes push endpoints must be on; `*` any host. Unset: the big push services in production, any host otherwise. */
  PUSH_ALLOWED_HOSTS: z
    .string()
    .regex(
      /^(\*|[a-z0-9.-]+)(,(\*|[a-z0-9.-]+))*$/i,
      'comma-separated host suffixes, e.g. fcm.googleapis.com, or *',
    )
    .transform((s) => s.toLowerCase().split(','))
    .optional(),
  /** Development and tests: push endpoints on loopback (a local test push service); refused in production. */
  PUSH_ALLOW_LOOPBACK: bool.default(false),
  PUSH_MAX_SUBSCRIPTIONS_PER_USER: z.coerce.number().int().min(1).max(1000).default(10),
  DAPR_HOST: z.string().default('127.0.0.1'),
  DAPR_HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(3500),
  DAPR_API_TOKEN: z.string().optional(),
  APP_API_TOKEN: z.string().optional(),
  PUBSUB_NAME: z.string().default('pubsub'),
  STATESTORE_NAME: z.string().default('statestore'),
  /**
   * Under Dapr, events reach a consumer in bulk deliveries (ADR 0028): at most
   * DAPR_BULK_SUBSCRIBE_MAX_MESSAGES per request, gathered for at most
   * DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS. Off by default: Dapr 1.18's Kafka consumer delivers an
   * app's bulks one at a time across all its topics, so an event being retried holds up the app.
   */
  DAPR_BULK_SUBSCRIBE: bool.default(false),
  DAPR_BULK_SUBSCRIBE_MAX_MESSAGES: z.coerce.number().int().min(1).max(1000).default(100),
  DAPR_BULK_SUBSCRIBE_MAX_AWAIT_MS: z.coerce.number().int().min(1).max(10_000).default(10),
  /**
   * Under Dapr, the brokers behind the sidecar, read only for consumer lag (ADR 0011): the chart
   * gives them to task-api. Unset: lag is reported as not measured.
   */
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'comma-separated host:port, e.g. redpanda:9092')
    .transform((s) => s.split(','))
    .optional(),
  KAFKA_TLS: bool.default(false),
  KAFKA_SASL_MECHANISM: z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512']).default('SCRAM-SHA-256'),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  // Read by the OpenTelemetry SDK itself; checked here so that a typo stops the start.
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .optional(),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  METRICS_ENABLED: bool.default(true),
  /**
   * `/metrics` on its own port (on HOST), which Prometheus scrapes and no Ingress routes. Unset:
   * on PORT in development and tests, not served at all in production (it is not for the public).
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * Which peers' X-Forwarded-For is believed for the client address (express 'trust proxy'):
   * `false`, a hop count, or addresses/CIDRs/`loopback`/`linklocal`/`uniquelocal`, comma-separated.
   * Never `true`: any client could then name its own address and dodge the login limits.
   */
  TRUST_PROXY: z
    .string()
    .refine((v) => v !== 'true', 'not `true` (that believes any client); name the proxies or a hop count')
    .transform((v): string | number | boolean =>
      v === 'false'
        ? false
        : /^\d+$/.test(v)
          ? Number(v)
          : v
              .split(',')
              .map((s) => s.trim())
              .join(','),
    )
    .default('loopback'),
  /** `closed`: only admins create accounts (POST /api/admin/users). */
  REGISTRATION: z.enum(['open', 'closed']).default('open'),
  /** Login and registration attempts per client address and per account in one window. */
  AUTH_RATE_LIMIT_ATTEMPTS: z.coerce.number().int().min(1).default(10),
  AUTH_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** Password hashes and checks running at once per process, and how many more may wait. */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(1000).default(16),
  /** How long a POST /api/tasks Idempotency-Key is remembered; older ones are pruned hourly. */
  IDEMPOTENCY_KEY_TTL_HOURS: z.coerce.number().int().min(1).default(24),
  /** A transaction held for fraud that no admin released or failed within this fails (`fraud_suspected`). */
  PAYMENTS_HOLD_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(86400),
  /** A score (0..1) at or above this holds the transaction for an admin (ADR 0018). Above 1: never. */
  FRAUD_HOLD_THRESHOLD: z.coerce.number().min(0).max(2).default(0.8),
  /** Weights of the score's factors; the score is their weighted mean. */
  FRAUD_WEIGHT_AMOUNT: z.coerce.number().min(0).max(100).default(0.5),
  FRAUD_WEIGHT_VELOCITY: z.coerce.number().min(0).max(100).default(0.3),
  FRAUD_WEIGHT_NEW_COUNTERPARTY: z.coerce.number().min(0).max(100).default(0.2),
  /** The amount factor is 1 at this multiple of the wallet's mean amount so far (0 at or below the mean). */
  FRAUD_AMOUNT_RATIO: z.coerce.number().min(1.01).max(1000).default(5),
  /** The velocity factor is 1 at this many transactions of a wallet within the window. */
  FRAUD_VELOCITY_LIMIT: z.coerce.number().int().min(1).default(10),
  FRAUD_VELOCITY_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
});

export type Config = z.infer<typeof ConfigSchema>;

export interface LoadConfigOptions {
  /**
   * False for a process that serves nothing (`main.js migrate`, CLI tools): it takes no sidecar
   * callbacks and sends no Web Push, so it needs neither APP_API_TOKEN nor VAPID keys. The chart's
   * migrations Job runs without a sidecar and is given no app token. Default true.
   */
  serving?: boolean;
}

/**
 * Rules between variables, in the same zod pass so that every problem is named at once.
 *
 * APP_API_TOKEN is required whenever the app runs beside a sidecar, not only in production: the
 * callbacks (`/dapr/*`, `/events/*`, `/job/*`) and internal routes listen on the app port, which
 * anything in the pod network (or on the machine) can reach, so no environment gets an open
 * default. Every way of running under Dapr already passes one: the chart (dapr.appToken secret),
 * scripts/stack (.stack/env), dapr.yaml (exported from .stack/env) and the e2e tests.
 *
 * VAPID keys go in pairs. The notification service deployed alone in production (APP_ID set, as
 * the chart and the image run it) must get them from a secret: keys generated into the database
 * change with the database and are not managed as secrets, and every browser subscription is
 * bound to the public key. The one-process host keeps generating its pair into its own database.
 */
function crossChecks(serving: boolean) {
  return (config: Config, ctx: z.RefinementCtx) => {
    const issue = (variable: keyof Config, message: string) =>
      ctx.addIssue({ code: 'custom', path: [variable], message });
    const dapr = config.TASKSTREAM_RUNTIME === 'dapr';
    const production = config.NODE_ENV === 'production';
    if (dapr && !config.DATABASE_URL) issue('DATABASE_URL', 'required when TASKSTREAM_RUNTIME=dapr');
    if (production && !config.JWT_SECRET && !config.JWKS_URL)
      issue('JWT_SECRET', 'JWT_SECRET or JWKS_URL is required in production');
    if (serving && dapr && !config.APP_API_TOKEN)
      issue(
        'APP_API_TOKEN',
        'required when TASKSTREAM_RUNTIME=dapr: the sidecar sends it on every callback (give daprd the same value)',
      );
    const publicKey = Boolean(config.VAPID_PUBLIC_KEY);
    const privateKey = Boolean(config.VAPID_PRIVATE_KEY);
    if (publicKey && !privateKey)
      issue('VAPID_PRIVATE_KEY', 'set together with VAPID_PUBLIC_KEY (both or neither)');
    if (privateKey && !publicKey)
      issue('VAPID_PUBLIC_KEY', 'set together with VAPID_PRIVATE_KEY (both or neither)');
    if (!publicKey && !privateKey && serving && production && config.APP_ID === 'notification')
      for (const variable of ['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY'] as const)
        issue(
          variable,
          'required in production for the notification service, from a secret (`npx web-push generate-vapid-keys` makes a pair)',
        );
    if (production && config.PUSH_ALLOW_LOOPBACK)
      issue('PUSH_ALLOW_LOOPBACK', 'not in production: push endpoints there are public push services only');
    // The lag reader's SASL user: half of one would fail only at the first scrape.
    if (config.KAFKA_SASL_USERNAME && !config.KAFKA_SASL_PASSWORD)
      issue('KAFKA_SASL_PASSWORD', 'set together with KAFKA_SASL_USERNAME (both or neither)');
    if (config.KAFKA_SASL_PASSWORD && !config.KAFKA_SASL_USERNAME)
      issue('KAFKA_SASL_USERNAME', 'set together with KAFKA_SASL_PASSWORD (both or neither)');
  };
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the environment; a bad variable throws a ConfigError naming it. Empty strings count as unset. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.superRefine(crossChecks(options.serving ?? true)).safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    );
  }
  // Demo accounts in development; in production only when asked for (with random passwords).
  return {
    ...parsed.data,
    SEED_DEMO_USERS: parsed.data.SEED_DEMO_USERS ?? parsed.data.NODE_ENV !== 'production',
  };
}
