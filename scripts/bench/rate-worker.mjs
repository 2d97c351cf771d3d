import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * Sends the requests at a fixed rate (open loop: a slow answer does not hold back the next
 * request), in its own thread so the process it may share with a server is not the clock.
 * node:http with kept-alive connections, as load-worker.mjs: fetch costs several times the CPU
 * per request, and the load shares the machine's cores. Reports each request's status and the
 * wall-clock time (ms since the epoch) its answer had arrived, by the request's index.
 */
const { url, requests, ratePerSecond } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const started = performance.now();
const statuses = new Array(requests.length).fill(0);
const answeredAt = new Array(requests.length).fill(0);
const latencies = [];
const errorKinds = {};
let sent = 0;
let done = 0;

function fire(index) {
  const { method, path, token, body } = requests[index];
  const payload = body === undefined ? '' : JSON.stringify(body);
  const t0 = performance.now();
  const finished = (kind) => {
    if (kind) errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    latencies.push(performance.now() - t0);
    answeredAt[index] = performance.timeOrigin + performance.now();
    if (++done === requests.length) finish();
  };
  const request = http.request(
    new URL(path, url),
    {
      method,
      agent,
      headers: {
        authorization: `Bearer ${token}`,
        'content-length': Buffer.byteLength(payload),
        ...(payload ? { 'content-type': 'application/json' } : {}),
      },
    },
    (response) => {
      statuses[index] = response.statusCode;
      response.resume();
      response.on('end', () => finished(response.statusCode >= 300 ? `http ${response.statusCode}` : ''));
      response.on('error', (err) => finished(String(err.code ?? err.message)));
    },
  );
  request.on('error', (err) => finished(String(err.code ?? err.message)));
  request.end(payload);
}

function finish() {
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  parentPort.postMessage({
    seconds: (performance.now() - started) / 1000,
    errors,
    errorKinds,
    latencies,
    statuses,
    answeredAt,
  });
}

function tick() {
  const due = Math.min(
    requests.length,
    Math.floor(((performance.now() - started) / 1000) * ratePerSecond) + 1,
  );
  while (sent < due) fire(sent++);
  if (sent < requests.length) setTimeout(tick, 2);
}

tick();
