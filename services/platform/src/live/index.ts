export type { Connection, Pending } from './connection.js';
export * from './history.js';
export { createHub, type Hub, type HubStats, type LiveStreamMetrics } from './hub.js';
export * from './protocol.js';
export { type HistoryPage, type Missed, type ReadHistory, readMissed } from './replay.js';
export * from './stream.js';
export { issueTicket, liveMigrations, redeemTicket, STREAM_TICKET_TTL_MS } from './tickets.js';
export {
  type LiveTransport,
  sseFrame,
  sseTransport,
  type TransportKind,
  webSocketTransport,
} from './transport.js';
