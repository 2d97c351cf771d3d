import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const csvMs = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds, e.g. 1000,5000,25000')
  .transform((s) => s.split(',').map(Number));

/**
 * The one configuration schema. Every variable of every service is here, with its default;
 * README's configuration table lists the same names.
 */
export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  TASKSTREAM_RUNTIME: z.enum(['embedded', 'dapr']).default('embedded'),
  /** The app id when one service runs alone (services/<svc>/dist/main.js). */
  APP_ID: z.enum(['task-api', 'recurring', 'notification', 'audit', 'sync']).optional(),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
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
  SEED_DEMO_USERS: bool.default(true),
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
  /** Partition keys (users) one embedded consumer handles at once; one key is always in order. */
  BUS_KEY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'an smtp:// or smtps:// URL')
    .optional(),
  MAIL_FROM: z.string().default('taskstream <reminders@taskstream.local>'),
  VAPID_PUBLIC_KEY: z.string().optional(),
  VAPID_PRIVATE_KEY: z.string().optional(),
  VAPID_SUBJECT: z.string().default('mailto:admin@taskstream.local'),
  DAPR_HOST: z.string().default('127.0.0.1'),
  DAPR_HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(3500),
  DAPR_API_TOKEN: z.string().optional(),
  APP_API_TOKEN: z.string().optional(),
  PUBSUB_NAME: z.string().default('pubsub'),
  STATESTORE_NAME: z.string().default('statestore'),
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
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the environment; a bad variable throws a ConfigError naming it. Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    );
  }
  const config = parsed.data;
  if (config.TASKSTREAM_RUNTIME === 'dapr' && !config.DATABASE_URL) {
    throw new ConfigError([{ variable: 'DATABASE_URL', message: 'required when TASKSTREAM_RUNTIME=dapr' }]);
  }
  if (config.NODE_ENV === 'production' && !config.JWT_SECRET && !config.JWKS_URL) {
    throw new ConfigError([
      { variable: 'JWT_SECRET', message: 'JWT_SECRET or JWKS_URL is required in production' },
    ]);
  }
  return config;
}
