import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { Router } from 'express';
import type { ServiceFactory } from './runtime.js';

// Bad input against the real HTTP bootstrap (createHttpApp + finishApp) of a running runtime:
// always the error shape with a 4xx, never a 5xx.
const echo: ServiceFactory = () => {
  const routes = Router();
  routes.post('/echo', (req, res) => {
    res.json({ body: req.body ?? null });
  });
  routes.get('/echo/:id', (req, res) => {
    res.json({ id: req.params.id, query: req.query });
  });
  return { name: 'task-api', routes };
};

/** A request with exact bytes and headers (fetch would fix some of them up). */
function raw(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const target = new URL(options.path, url);
    const req = httpRequest(
      target,
      {
        method: options.method ?? 'POST',
        headers: {
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

describe('HTTP bootstrap: bad input', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime([echo]);
  }, 60_000);
  afterAll(async () => rt?.close(), 60_000);

  const json = { 'content-type': 'application/json' };

  test('valid JSON is parsed', async () => {
    const response = await rt.request('POST', '/echo', { body: { title: 'ok', n: 1 } });
    expect(response).toMatchObject({ status: 200, body: { body: { title: 'ok', n: 1 } } });
  });

  test.each([
    ['a syntax error', '{"title": "unterminated'],
    ['a trailing comma', '{"a": 1,}'],
    ['single quotes', "{'a': 1}"],
    ['a bare string (strict mode takes objects and arrays only)', '"just a string"'],
    ['a bare number', '42'],
    ['null', 'null'],
    ['NaN', '{"a": NaN}'],
  ])('invalid JSON (%s) is 400 invalid_json', async (_what, rawBody) => {
    const response = await rt.request('POST', '/echo', { rawBody });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'invalid_json',
      message: expect.stringContaining('not valid JSON'),
    });
  });

  test('a CloudEvents content type with bad JSON is 400 invalid_json too', async () => {
    const response = await rt.request('POST', '/echo', {
      rawBody: '{oops',
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_json');
  });

  test('a body over 1 MiB is 413 payload_too_large', async () => {
    const big = JSON.stringify({ text: 'x'.repeat(1024 * 1024) });
    const response = await rt.request('POST', '/echo', { rawBody: big });
    expect(response.status).toBe(413);
    expect(response.body.error).toMatchObject({ code: 'payload_too_large' });
  });

  test('a gzip body that inflates to over 1 MiB is 413 (the limit is on the inflated size)', async () => {
    const bomb = gzipSync(JSON.stringify({ text: 'x'.repeat(4 * 1024 * 1024) }));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const response = await raw(rt.url, {
      path: '/echo',
      headers: { ...json, 'content-encoding': 'gzip' },
      body: bomb,
    });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
  });

  test('a small gzip body is accepted; a corrupt one is a 4xx', async () => {
    const ok = await raw(rt.url, {
      path: '/echo',
      headers: { ...json, 'content-encoding': 'gzip' },
      body: gzipSync('{"zipped": true}'),
    });
    expect(ok).toMatchObject({ status: 200, body: { body: { zipped: true } } });
    const corrupt = await raw(rt.url, {
      path: '/echo',
      headers: { ...json, 'content-encoding': 'gzip' },
      body: Buffer.from('definitely not gzip'),
    });
    expect(corrupt.status).toBeGreaterThanOrEqual(400);
    expect(corrupt.status).toBeLessThan(500);
    expect(corrupt.body.error.code).toEqual(expect.any(String));
  });

  test('an unknown content encoding or charset is 415', async () => {
    const encoding = await raw(rt.url, {
      path: '/echo',
      headers: { ...json, 'content-encoding': 'snappy' },
      body: '{"a": 1}',
    });
    expect(encoding.status).toBe(415);
    expect(encoding.body.error.code).toBe('unsupported_encoding');
    const charset = await raw(rt.url, {
      path: '/echo',
      headers: { 'content-type': 'application/json; charset=klingon' },
      body: '{"a": 1}',
    });
    expect(charset.status).toBe(415);
  });

  test('invalid UTF-8 inside a JSON string is not a 5xx', async () => {
    const body = Buffer.concat([
      Buffer.from('{"title": "'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}'),
    ]);
    const response = await raw(rt.url, { path: '/echo', headers: json, body });
    expect(response.status).toBeLessThan(500);
  });

  test('deeply nested JSON is 400 invalid_json (it would overflow the stack wherever it is handled)', async () => {
    const depth = 200_000;
    const response = await rt.request('POST', '/echo', {
      rawBody: `${'['.repeat(depth)}${']'.repeat(depth)}`,
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'invalid_json',
      message: expect.stringContaining('deeper than 64'),
    });
    const object = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`;
    expect((await rt.request('POST', '/echo', { rawBody: object })).status).toBe(400);
    // Brackets inside strings do not count; 64 levels are fine.
    const fine = `{"text": "${'[{'.repeat(500)}", "deep": ${'['.repeat(63)}${']'.repeat(63)}}`;
    expect((await rt.request('POST', '/echo', { rawBody: fine })).status).toBe(200);
    const escaped = `{"text": "\\"[[[[", "n": 1}`;
    expect(await rt.request('POST', '/echo', { rawBody: escaped })).toMatchObject({
      status: 200,
      body: { body: { n: 1 } },
    });
  });

  test('a body shorter than its Content-Length is a 4xx, not a hang or a 5xx', async () => {
    const response = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(new URL('/echo', rt.url), {
        method: 'POST',
        headers: { ...json, 'content-length': '100' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0)); // the server may close the socket instead of answering
      req.write('{"a": 1}');
      setTimeout(() => req.destroy(), 500);
      setTimeout(() => reject(new Error('no answer')), 10_000);
    });
    expect(response === 0 || (response >= 400 && response < 500)).toBe(true);
    // The server is still well.
    expect((await rt.request('GET', '/healthz')).status).toBe(200);
  });

  test('a malformed percent-encoding in the path is 400', async () => {
    const response = await raw(rt.url, { method: 'GET', path: '/echo/%E0%A4%A' });
    expect(response.status).toBe(400);
    expect(response.body.error).toEqual(expect.objectContaining({ code: expect.any(String) }));
  });

  test('odd query strings and request ids are not 5xx', async () => {
    const nested = await rt.request('GET', `/echo/1?${'a[b]'.repeat(200)}=1&x=%ZZ&y=${'z'.repeat(10_000)}`);
    expect(nested.status).toBeLessThan(500);
    const id = await rt.request('GET', '/echo/1', {
      headers: { 'x-request-id': 'r'.repeat(5000), traceparent: 'garbage' },
    });
    expect(id.status).toBe(200);
    expect(id.headers.get('x-request-id')).toHaveLength(100);
  });

  test('a text/plain body is left unparsed, not an error', async () => {
    const response = await rt.request('POST', '/echo', {
      rawBody: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(response).toMatchObject({ status: 200, body: { body: null } });
  });

  test('unknown routes and methods are 404 with the error shape', async () => {
    const response = await rt.request('DELETE', '/echo');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: { code: 'not_found', message: 'no route for DELETE /echo' } });
  });
});
