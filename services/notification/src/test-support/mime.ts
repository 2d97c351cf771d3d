/**
 * Just enough MIME to read what nodemailer sends: headers, encoded-word subjects, multipart
 * bodies, quoted-printable and base64 parts.
 */

export interface ParsedMail {
  headers: Record<string, string>;
  subject: string;
  text: string;
  html?: string;
}

function splitHead(raw: string): { head: Record<string, string>; body: string } {
  const normalized = raw.replace(/\r\n/g, '\n');
  const at = normalized.indexOf('\n\n');
  const headText = at === -1 ? normalized : normalized.slice(0, at);
  const body = at === -1 ? '' : normalized.slice(at + 2);
  const head: Record<string, string> = {};
  for (const line of headText.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) head[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { head, body };
}

function decodeQuotedPrintable(text: string): string {
  const bytes: number[] = [];
  const soft = text.replace(/=\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? soft.slice(i + 1, i + 3) : '';
    if (/^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    default:
      return body;
  }
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`). */
export function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _charset, kind: string, text: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    );
}

function leafParts(head: Record<string, string>, body: string): { type: string; text: string }[] {
  const type = head['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith('multipart/') && boundary) {
    const parts = body.split(`--${boundary}`).slice(1);
    return parts
      .filter((p) => !p.startsWith('--'))
      .flatMap((p) => {
        // The line break before a boundary belongs to the boundary.
        const inner = splitHead(p.replace(/^\n/, '').replace(/\n$/, ''));
        return leafParts(inner.head, inner.body);
      });
  }
  return [
    {
      type: type.split(';')[0]!.trim().toLowerCase(),
      text: decodeBody(body, head['content-transfer-encoding']),
    },
  ];
}

export function parseMail(raw: string): ParsedMail {
  const { head, body } = splitHead(raw);
  const parts = leafParts(head, body);
  return {
    headers: head,
    subject: decodeWords(head.subject ?? ''),
    text: parts.find((p) => p.type === 'text/plain')?.text ?? '',
    html: parts.find((p) => p.type === 'text/html')?.text,
  };
}
