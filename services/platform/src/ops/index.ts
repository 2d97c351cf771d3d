export * from './dead-letters.js';
export * from './delivery.js';
export * from './projection-replay.js';
export * from './retention.js';
export * from './schema.js';
export * from './stats.js';
export * from './topics.js';
