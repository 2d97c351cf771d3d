import type { Invoker, Logger, PoolClient } from '@taskstream/platform';
import nodemailer from 'nodemailer';
import { v7 as uuidv7 } from 'uuid';
import { type ChannelSender, DeliveryError, type SendContext, type SendResult } from './types.js';

export interface EmailOptions {
  /** smtp:// or smtps:// URL; unset keeps mail in the local mailbox the web UI shows. */
  smtpUrl?: string;
  from: string;
  logger: Logger;
  /** Looks up a user's address at task-api when the user has not called this service yet. */
  invoker?: Invoker;
}

export interface EmailChannel extends ChannelSender {
  mode: 'smtp' | 'mailbox';
  close(): void;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
}

/** The address the user's token last told us, else the account's address from task-api (then kept). */
async function contactOf(client: PoolClient, userId: string, invoker?: Invoker): Promise<string | undefined> {
  const { rows } = await client.query<{ email: string }>(
    'SELECT email FROM notification_contacts WHERE user_id = $1',
    [userId],
  );
  if (rows[0] || !invoker) return rows[0]?.email;
  const response = await invoker.invoke<{ email?: string; name?: string }>({
    appId: 'task-api',
    method: 'GET',
    path: `/internal/users/${encodeURIComponent(userId)}`,
  });
  if (response.status === 404) return undefined;
  if (response.status !== 200 || !response.body?.email) {
    throw new Error(`looking up the user's email at task-api answered ${response.status}`);
  }
  await client.query(
    `INSERT INTO notification_contacts (user_id, email, name, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (user_id) DO NOTHING`,
    [userId, response.body.email, response.body.name ?? null],
  );
  return response.body.email;
}

/**
 * Email through nodemailer: to the SMTP server of SMTP_URL, or, without one, into the `mailbox`
 * table as the raw message nodemailer would have sent (same composition, same headers).
 */
export function createEmailChannel(options: EmailOptions): EmailChannel {
  const { smtpUrl, from } = options;
  const smtp = smtpUrl
    ? nodemailer.createTransport({
        url: smtpUrl,
        // Bounded waits: an attempt holds its delivery row locked while it talks to the server.
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
      } as never)
    : undefined;
  const local = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  async function send(ctx: SendContext): Promise<SendResult> {
    const { client, reminder, content } = ctx;
    const address = await contactOf(client, reminder.user_id, options.invoker);
    const messageId = `<${ctx.firingId}@taskstream>`;
    const mail = {
      from,
      subject: content.subject,
      text: content.text,
      html: content.html,
      messageId,
      headers: { 'X-Taskstream-Reminder': reminder.reminder_id, 'Auto-Submitted': 'auto-generated' },
    };

    if (!smtp) {
      // The local mailbox is per user: a message is kept even before an address is known.
      const to = address ?? `user-${reminder.user_id}@taskstream.local`;
      const info = await local.sendMail({ ...mail, to });
      const raw = Buffer.isBuffer(info.message) ? info.message.toString('utf8') : String(info.message);
      await client.query(
        `INSERT INTO mailbox (id, user_id, message_id, to_address, from_address, subject, text_body, html_body, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [uuidv7(), reminder.user_id, messageId, to, from, content.subject, content.text, content.html, raw],
      );
      return { status: 'sent', note: 'kept in the local mailbox' };
    }

    if (!address) return { status: 'skipped', note: 'no email address known for the user' };
    try {
      const info = await smtp.sendMail({ ...mail, to: address });
      if (info.rejected?.length)
        throw new DeliveryError(`recipient rejected: ${info.rejected.join(', ')}`, true);
      return { status: 'sent', note: info.response };
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      const e = err as SmtpError;
      // 5xx is the server's final word (unknown mailbox, policy); everything else may pass later.
      const permanent = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === 'EENVELOPE';
      throw new DeliveryError(`smtp: ${e.message}`, permanent);
    }
  }

  return {
    mode: smtp ? 'smtp' : 'mailbox',
    send,
    close() {
      smtp?.close();
    },
  };
}
