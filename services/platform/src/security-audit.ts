import {
  dataschemaFor,
  type EventOf,
  type SecurityEventName,
  Topics,
  TYPE_PREFIX,
} from '@taskstream/contracts';
import type { Request } from 'express';
import type { Logger } from './logger.js';
import type { EventBus } from './ports.js';
import { newId } from './trace.js';

export interface SecurityAction<N extends SecurityEventName> {
  action: N;
  /** Who did it: the signed-in user, or the account concerned; null when unknown. */
  actor: string | null;
  subject?: string;
  payload: EventOf<N>['data']['payload'];
}

const NO_TRACE = '00-00000000000000000000000000000000-0000000000000000-00';

/**
 * Publishes security-relevant actions to `security-events`, which the audit service chains into
 * audit_logs like task events (ADR 0015). Actor, client address (req.ip, TRUST_PROXY honoured)
 * and user agent come from the request. Published after the action, not in its transaction: a
 * crash between the two loses the entry, a failing bus is logged and does not fail the action.
 */
export function createSecurityAudit(bus: EventBus, source: string, logger: Logger) {
  return async function audit<N extends SecurityEventName>(req: Request, entry: SecurityAction<N>) {
    const event = {
      specversion: '1.0' as const,
      id: newId(),
      type: `${TYPE_PREFIX}${entry.action}`,
      source,
      time: new Date().toISOString(),
      ...(entry.subject ? { subject: entry.subject } : {}),
      datacontenttype: 'application/json',
      dataschema: dataschemaFor(entry.action),
      traceparent: req.traceparent ?? NO_TRACE,
      data: {
        actor: entry.actor,
        client_address: req.ip ?? null,
        user_agent: req.header('user-agent')?.slice(0, 512) ?? null,
        payload: entry.payload,
      },
    };
    try {
      await bus.publish([{ topic: Topics.securityEvents, partitionKey: entry.actor ?? 'anonymous', event }]);
    } catch (err) {
      (req.log ?? logger).error({ err, action: entry.action }, 'security audit event not published');
    }
  };
}

export type SecurityAudit = ReturnType<typeof createSecurityAudit>;
