export * from './events.js';
export * from './probe.js';
export * from './sse-probe.js';
