import type { PoolClient } from '@taskstream/platform';
import type { ReminderContent } from '../compose.js';
import type { ReminderState } from '../state.js';

/** What a channel needs for one attempt; `client` is the transaction that records the attempt. */
export interface SendContext {
  client: PoolClient;
  reminder: ReminderState;
  content: ReminderContent;
  /** Per channel memory across attempts (e.g. push endpoints already served). */
  detail: Record<string, unknown>;
  /** A stable id of this firing, e.g. for a Message-ID. */
  firingId: string;
}

export interface SendResult {
  status: 'sent' | 'skipped';
  /** Why it was skipped, or a remark on a send (recorded with the attempt). */
  note?: string;
  detail?: Record<string, unknown>;
}

/** A failed attempt. `permanent` ones are not retried (a 5xx from SMTP, a refused push message). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export interface ChannelSender {
  send(ctx: SendContext): Promise<SendResult>;
}
