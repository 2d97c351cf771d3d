import { randomUUID } from 'node:crypto';
import { type DaprTestApp, startDaprTestApp } from '../../../../scripts/stack/test-app.js';
import { EtagMismatchError } from '../ports.js';

// Real daprd + state.postgresql v2 from `bash scripts/stack/stack.sh up`.
describe('dapr StateStore through daprd and PostgreSQL', () => {
  let app: DaprTestApp;
  const key = (name: string) => `e2e-${randomUUID().slice(0, 8)}-${name}`;

  beforeAll(async () => {
    app = await startDaprTestApp({ appId: 'e2e-state' });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  }, 60_000);

  test('saves, reads and deletes a value with its etag', async () => {
    const k = key('roundtrip');
    const etag = await app.ports.state.save(k, { reminder: 'r1', offsets: [10, 60] });
    expect(etag).toEqual(expect.any(String));
    expect(await app.ports.state.get(k)).toEqual({ value: { reminder: 'r1', offsets: [10, 60] }, etag });
    await app.ports.state.delete(k, { etag });
    expect(await app.ports.state.get(k)).toBeUndefined();
  }, 60_000);

  test('a stale etag throws EtagMismatchError on save and on delete', async () => {
    const k = key('etag');
    const first = await app.ports.state.save(k, { n: 1 });
    const second = await app.ports.state.save(k, { n: 2 }, { etag: first });
    expect(second).not.toBe(first);
    await expect(app.ports.state.save(k, { n: 3 }, { etag: first })).rejects.toBeInstanceOf(
      EtagMismatchError,
    );
    await expect(app.ports.state.delete(k, { etag: first })).rejects.toBeInstanceOf(EtagMismatchError);
    await expect(
      app.ports.state.save(k, { n: 3 }, { etag: 'not-an-etag-of-this-store' }),
    ).rejects.toBeInstanceOf(EtagMismatchError);
    expect((await app.ports.state.get<{ n: number }>(k))?.value).toEqual({ n: 2 });
  }, 60_000);

  test('a value saved with a TTL expires', async () => {
    const k = key('ttl');
    await app.ports.state.save(k, { short: true }, { ttlSeconds: 1 });
    expect((await app.ports.state.get(k))?.value).toEqual({ short: true });
    await new Promise((r) => setTimeout(r, 2100));
    expect(await app.ports.state.get(k)).toBeUndefined();
  }, 60_000);
});
