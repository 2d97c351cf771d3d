// @kubernetes/client-node loads undici 8, which needs Node >= 22.19 (zstd, markAsUncloneable, Promise.withResolvers);
// this machine kind and CI run Node 20. The API server never answers with zstd unless asked, so
// a stand-in that refuses is enough for verify-deploy.ts and the k8s tests. k8s.sh preloads it
// (NODE_OPTIONS=--require) only on Node without zstd; remove it once CI runs Node 22.19+.
const zlib = require('node:zlib');

if (typeof zlib.createZstdDecompress !== 'function') {
  zlib.createZstdDecompress = () => {
    throw new Error('zstd is not supported by this Node version');
  };
  zlib.constants.ZSTD_d_windowLogMax ??= 100;
}

// undici's web cache marks objects uncloneable (node:worker_threads, Node 22.10+); a no-op here.
const workerThreads = require('node:worker_threads');

if (typeof workerThreads.markAsUncloneable !== 'function') workerThreads.markAsUncloneable = () => {};

// Promise.withResolvers (Node 22).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
