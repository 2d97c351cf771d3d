export * from './auth.js';
export * from './cloud-event.js';
export * from './config.js';
export {
  createDaprPorts,
  createKafkaTopicBrowser,
  type DaprPortsOptions,
  type JobFailurePolicy,
  outboxMigrations,
  SidecarError,
} from './dapr/index.js';
export * from './db.js';
export { createEmbeddedPorts, type EmbeddedPortsOptions, embeddedMigrations } from './embedded/index.js';
export * from './errors.js';
export * from './group-commit.js';
export * from './http.js';
export * from './idempotency.js';
export * from './identities.js';
export * from './live/index.js';
export * from './logger.js';
export * from './metrics.js';
export * from './ops/index.js';
export * from './ports.js';
export * from './postgres.js';
export * from './runtime.js';
export * from './schedule.js';
export * from './security-audit.js';
export { cspAllowingEval } from './security-headers.js';
export * from './telemetry.js';
export * from './trace.js';
