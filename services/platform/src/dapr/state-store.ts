import { isDeepStrictEqual } from 'node:util';
import { EtagMismatchError, type SaveOptions, type StateStore, type StoredState } from '../ports.js';
import { type SidecarClient, SidecarError } from './sidecar-client.js';

/**
 * An etag this adapter hands out when it could not learn the etag of its own write (another
 * writer came in between): a save or delete with it fails as a mismatch, so the caller re-reads.
 */
const UNKNOWN_ETAG = 'unknown:';

/**
 * StateStore on the Dapr state API (`state.postgresql` v2 behind it): ETag with first-write
 * concurrency, TTL through `metadata.ttlInSeconds`; expired keys read as absent.
 */
export function createDaprStateStore(options: { sidecar: SidecarClient; storeName: string }): StateStore {
  const { sidecar } = options;
  const base = `/v1.0/state/${encodeURIComponent(options.storeName)}`;
  const keyPath = (key: string) => `${base}/${encodeURIComponent(key)}`;

  async function get<T>(key: string): Promise<StoredState<T> | undefined> {
    const response = await sidecar.request(keyPath(key));
    if (response.status === 204 || response.status === 404) return undefined;
    if (response.status !== 200) throw new SidecarError(response.status, response.body, `get state ${key}`);
    return { value: response.body as T, etag: response.headers.get('etag') ?? '' };
  }

  return {
    get,

    async save<T>(key: string, value: T, saveOptions: SaveOptions = {}): Promise<string> {
      const { etag, ttlSeconds } = saveOptions;
      if (etag?.startsWith(UNKNOWN_ETAG)) throw new EtagMismatchError(key);
      const item: Record<string, unknown> = { key, value };
      if (etag !== undefined) Object.assign(item, { etag, options: { concurrency: 'first-write' } });
      if (ttlSeconds !== undefined) item.metadata = { ttlInSeconds: String(ttlSeconds) };
      const response = await sidecar.request(base, { method: 'POST', body: [item] });
      if (isEtagFailure(response.status, response.body)) throw new EtagMismatchError(key);
      if (response.status !== 204 && response.status !== 200)
        throw new SidecarError(response.status, response.body, `save state ${key}`);
      // The state API does not return the new etag; read it back. If what we read is not what
      // we wrote, someone wrote in between: their etag must not pass as ours.
      const stored = await get<T>(key);
      // (Compared as data: PostgreSQL's jsonb does not keep key order.)
      if (!stored || !isDeepStrictEqual(stored.value, JSON.parse(JSON.stringify(value))))
        return `${UNKNOWN_ETAG}${Date.now()}`;
      return stored.etag;
    },

    async delete(key, deleteOptions = {}) {
      const { etag } = deleteOptions;
      if (etag?.startsWith(UNKNOWN_ETAG)) throw new EtagMismatchError(key);
      // Dapr 1.18 retries a delete that failed on its etag under the componentCall Resiliency
      // policy (save it does not): a stale etag took ~7 s to fail. A stale etag is known from a
      // read at once; only a write that races in between still goes the slow way.
      if (etag !== undefined && (await get(key))?.etag !== etag) throw new EtagMismatchError(key);
      const path = etag === undefined ? keyPath(key) : `${keyPath(key)}?concurrency=first-write`;
      const response = await sidecar.request(path, {
        method: 'DELETE',
        headers: etag === undefined ? {} : { 'if-match': etag },
      });
      if (isEtagFailure(response.status, response.body)) throw new EtagMismatchError(key);
      if (response.status !== 204 && response.status !== 200)
        throw new SidecarError(response.status, response.body, `delete state ${key}`);
    },
  };
}

/** 409 is a stale etag; 400 with an etag error is one that could never match (not a uuid). */
function isEtagFailure(status: number, body: unknown) {
  if (status === 409) return true;
  return status === 400 && /etag/i.test(JSON.stringify(body ?? ''));
}
