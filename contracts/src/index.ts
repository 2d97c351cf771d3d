export * from './common.js';
export * from './users.js';
export * from './tasks.js';
export * from './events.js';
export * from './api.js';
