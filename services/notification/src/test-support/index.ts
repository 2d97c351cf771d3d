export * from './events.js';
export * from './mime.js';
export * from './smtp.js';
export * from './web-push-endpoint.js';
