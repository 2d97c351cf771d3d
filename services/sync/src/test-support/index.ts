export * from './events.js';
export * from './probe.js';
