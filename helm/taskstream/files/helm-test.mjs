// `helm test`: the release answers through its Services. Node built-ins only, so it runs on the
// node of any service image. `main()` resolves true only when every check passes; it prints one
// line per check. The test Pod (templates/tests/readyz.yaml) imports it from a ConfigMap.
//
//   READYZ_URLS  space-separated /readyz URLs, one per service (database and sidecar reachable)
//   API_URL      task-api's base URL: an API route answers as the API (401 JSON without a token)
//   WS_URL       sync's ws:// URL of /ws/tasks
//   JWT_SECRET   optional (from the release's Secret): sign a short-lived token for a made-up user
//                and expect the socket's `hello`; without it, or with JWKS_URL (the services then
//                accept only the external issuer's tokens), expect the 4401 refusal, which still
//                shows the upgrade reached sync and its token check.
//   JWT_ISSUER, JWT_AUDIENCE  as the services read them (default taskstream)
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';

const TIMEOUT_MS = Number(process.env.CHECK_TIMEOUT_MS ?? 10000);
/** Runs one check, prints its line and adds its outcome to `results`. */
async function check(results, name, fn) {
  try {
    const detail = await fn();
    results.push(true);
    console.log(`ok    ${name}${detail ? `: ${detail}` : ''}`);
  } catch (err) {
    results.push(false);
    console.log(`FAIL  ${name}: ${err instanceof Error ? err.message : err}`);
  }
}

const b64url = (data) => Buffer.from(data).toString('base64url');

/** An HS256 JWT as the services sign theirs (platform/src/auth.ts): sub, role, iss, aud, exp. */
export function signToken(secret, { issuer = 'taskstream', audience = 'taskstream', ttlSeconds = 60 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({ sub: randomUUID(), role: 'user', iss: issuer, aud: audience, iat: now, exp: now + ttlSeconds }),
  );
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/**
 * Opens a WebSocket by hand (RFC 6455 handshake, then the first server frame), so that no
 * library and no experimental global is needed. Resolves with the first frame: a text message
 * or a close frame with its code and reason.
 */
export function firstFrame(wsUrl, protocols) {
  const url = new URL(wsUrl);
  const key = randomBytes(16).toString('base64');
  const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port || 80,
      path: url.pathname + url.search,
      timeout: TIMEOUT_MS,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Protocol': protocols.join(', '),
      },
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`HTTP ${res.statusCode} instead of 101 Switching Protocols`)));
    req.on('upgrade', (res, socket, head) => {
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        return reject(new Error('wrong Sec-WebSocket-Accept'));
      }
      let buffer = head;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no frame within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      const onData = (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (buffer.length < 2) return;
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        clearTimeout(timer);
        socket.off('data', onData);
        socket.destroy();
        if (opcode === 0x8)
          resolve({ close: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() });
        else resolve({ text: payload.toString(), protocol: res.headers['sec-websocket-protocol'] });
      };
      socket.on('data', onData);
      onData(Buffer.alloc(0));
    });
    req.end();
  });
}

async function get(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

export async function main(env = process.env) {
  const results = [];
  for (const url of (env.READYZ_URLS ?? '').split(' ').filter(Boolean)) {
    await check(results, `GET ${url}`, async () => {
      const { status, body } = await get(url);
      if (status !== 200) throw new Error(`${status} ${body.slice(0, 200)}`);
      return '200';
    });
  }
  if (env.API_URL) {
    const url = `${env.API_URL.replace(/\/$/, '')}/api/auth/me`;
    await check(results, `GET ${url} without a token`, async () => {
      const { status, type } = await get(url);
      if (status !== 401 || !type.includes('application/json')) throw new Error(`${status} ${type}, not 401 JSON`);
      return '401 JSON';
    });
  }
  if (env.WS_URL) {
    if (env.JWT_SECRET && !env.JWKS_URL) {
      await check(results, `WebSocket ${env.WS_URL} with a token`, async () => {
        const token = signToken(env.JWT_SECRET, {
          issuer: env.JWT_ISSUER || undefined,
          audience: env.JWT_AUDIENCE || undefined,
        });
        const frame = await firstFrame(env.WS_URL, ['bearer', token]);
        if (frame.close !== undefined) throw new Error(`closed ${frame.close} ${frame.reason}`);
        const message = JSON.parse(frame.text);
        if (message.type !== 'hello') throw new Error(`first message ${frame.text.slice(0, 200)}`);
        return `hello, sequence ${message.sequence}`;
      });
    } else {
      await check(results, `WebSocket ${env.WS_URL} without a token (no JWT_SECRET to sign one with)`, async () => {
        const frame = await firstFrame(env.WS_URL, ['bearer']);
        if (frame.close !== 4401) throw new Error(`expected close 4401, got ${JSON.stringify(frame)}`);
        return `refused with 4401 (${frame.reason})`;
      });
    }
  }
  return results.length > 0 && results.every(Boolean);
}
