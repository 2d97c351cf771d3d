import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';

/**
 * Decrypts a Web Push message body (RFC 8291 with RFC 8188 `aes128gcm`), as a browser would:
 * ECDH between the subscription's private key and the sender's key from the header, keyed with
 * the subscription's auth secret.
 */
export function decryptAes128gcm(
  body: Buffer,
  receiverPrivateKey: Buffer,
  receiverPublicKey: Buffer,
  authSecret: Buffer,
): Buffer {
  if (body.length < 21) throw new Error('body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20]!;
  const senderPublicKey = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error(`key id is ${idLength} bytes, not an uncompressed P-256 point`);

  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(receiverPrivateKey);
  const sharedSecret = ecdh.computeSecret(senderPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), receiverPublicKey, senderPublicKey]);
  const ikm = Buffer.from(hkdfSync('sha256', sharedSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const baseNonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  const out: Buffer[] = [];
  const records = Math.ceil(ciphertext.length / recordSize);
  for (let i = 0; i < records; i++) {
    const record = ciphertext.subarray(i * recordSize, (i + 1) * recordSize);
    const nonce = Buffer.from(baseNonce);
    // The record sequence number is XORed into the low 48 bits of the nonce.
    nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) ^ BigInt(i), 4);
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
    decipher.setAuthTag(record.subarray(record.length - 16));
    const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    const delimiter = plain[end];
    const last = i === records - 1;
    if (delimiter !== (last ? 2 : 1))
      throw new Error(`record ${i}: padding delimiter ${delimiter}, expected ${last ? 2 : 1}`);
    out.push(plain.subarray(0, end));
  }
  return Buffer.concat(out);
}

export interface BrowserSubscription {
  /** What the browser gives the app (PushSubscription.toJSON()). */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  privateKey: Buffer;
  publicKey: Buffer;
  authSecret: Buffer;
}

export interface ReceivedPush {
  endpointId: string;
  status: number;
  receivedAt: number;
  headers: IncomingMessage['headers'];
  /** The decrypted payload, parsed as JSON. */
  payload?: any;
  /** The VAPID claims, verified against the key the request names. */
  vapid?: { publicKey: string; aud: string; sub: string };
  error?: string;
}

export interface TestPushService {
  origin: string;
  /** A new browser subscription on this service (its own key pair and auth secret). */
  subscribe(endpointId?: string): BrowserSubscription;
  /** Answer the next requests to this endpoint with these statuses (then 201 again). */
  respond(endpointId: string, ...statuses: number[]): void;
  received: ReceivedPush[];
  /** Successfully accepted and decrypted messages. */
  delivered(): ReceivedPush[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Checks `Authorization: vapid t=<jwt>, k=<key>` (RFC 8292): ES256 by that key, audience = our origin. */
async function verifyVapid(header: string | undefined, origin: string) {
  const match = header ? /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header) : null;
  if (!match) throw new Error(`no VAPID authorization: ${header ?? '(none)'}`);
  const [, token, key] = match;
  const point = Buffer.from(key!, 'base64url');
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
  };
  const { payload } = await jwtVerify(token!, await importJWK(jwk, 'ES256'), {
    algorithms: ['ES256'],
    audience: origin,
  });
  return { publicKey: key!, aud: String(payload.aud), sub: String(payload.sub) };
}

/** A push service on loopback that accepts messages only when they decrypt and carry valid VAPID. */
export async function startPushService(): Promise<TestPushService> {
  const subscriptions = new Map<string, BrowserSubscription>();
  const scripted = new Map<string, number[]>();
  const received: ReceivedPush[] = [];
  let origin = '';

  const server = createServer(async (req, res) => {
    const endpointId = decodeURIComponent((req.url ?? '').replace(/^\/push\//, ''));
    const body = await readBody(req);
    const entry: ReceivedPush = { endpointId, status: 201, receivedAt: Date.now(), headers: req.headers };
    received.push(entry);
    const sub = subscriptions.get(endpointId);
    const next = scripted.get(endpointId)?.shift();
    try {
      if (req.method !== 'POST' || !sub)
        throw Object.assign(new Error('unknown subscription'), { status: 404 });
      if (req.headers['content-encoding'] !== 'aes128gcm')
        throw new Error(`content-encoding ${req.headers['content-encoding']}`);
      if (!req.headers.ttl) throw new Error('no TTL header');
      entry.vapid = await verifyVapid(req.headers.authorization, origin);
      entry.payload = JSON.parse(
        decryptAes128gcm(body, sub.privateKey, sub.publicKey, sub.authSecret).toString('utf8'),
      );
      if (next !== undefined) entry.status = next;
    } catch (err) {
      entry.error = (err as Error).message;
      entry.status = (err as { status?: number }).status ?? 400;
    }
    res.writeHead(entry.status, { 'content-type': 'text/plain' }).end(entry.error ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    received,
    delivered: () => received.filter((r) => r.status >= 200 && r.status < 300 && r.payload !== undefined),
    subscribe(endpointId = randomBytes(8).toString('hex')) {
      const ecdh = createECDH('prime256v1');
      const publicKey = ecdh.generateKeys();
      const authSecret = randomBytes(16);
      const sub: BrowserSubscription = {
        json: {
          endpoint: `${origin}/push/${encodeURIComponent(endpointId)}`,
          expirationTime: null,
          keys: { p256dh: publicKey.toString('base64url'), auth: authSecret.toString('base64url') },
        },
        privateKey: ecdh.getPrivateKey(),
        publicKey,
        authSecret,
      };
      subscriptions.set(endpointId, sub);
      return sub;
    },
    respond(endpointId, ...statuses) {
      scripted.set(endpointId, statuses);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
