import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { type ParsedMail, parseMail } from './mime.js';

export interface ReceivedMail extends ParsedMail {
  from: string;
  to: string[];
  raw: string;
  receivedAt: number;
}

export interface TestSmtpServer {
  url: string;
  messages: ReceivedMail[];
  /** The next `n` messages are refused with this SMTP reply code (e.g. 451 temporary, 550 permanent). */
  refuseNext(n: number, code: number): void;
  close(): Promise<void>;
}

/** A real SMTP server (smtp-server) on a free loopback port, keeping what it receives. */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  let refusals: { left: number; code: number } = { left: 0, code: 451 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (refusals.left > 0) {
          refusals.left--;
          const err = new Error(refusals.code >= 500 ? 'mailbox unavailable' : 'try again later') as Error & {
            responseCode: number;
          };
          err.responseCode = refusals.code;
          return callback(err);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        messages.push({
          ...parseMail(raw),
          raw,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          receivedAt: Date.now(),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    refuseNext(n, code) {
      refusals = { left: n, code };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
