export * from './api.js';
export * from './common.js';
export * from './documents.js';
export * from './events.js';
export * from './incoming.js';
export * from './payments.js';
export * from './tasks.js';
export * from './users.js';
