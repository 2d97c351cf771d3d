import { parentPort, workerData } from 'node:worker_threads';

/**
 * Runs in its own thread so the load generator does not steal the event loop of the server it
 * measures. Each client creates tasks back to back; latencies after the warm-up are reported.
 */
const { url, tokens, warmupMs, durationMs } = workerData;
const latencies = [];
let errors = 0;
let completed = 0;
const start = performance.now();
const measureFrom = start + warmupMs;
const end = measureFrom + durationMs;

async function client(token, index) {
  let n = 0;
  while (performance.now() < end) {
    const t0 = performance.now();
    const response = await fetch(`${url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ title: `bench ${index}-${n++}`, priority: 'medium', tags: ['bench'] }),
    });
    await response.arrayBuffer();
    const t1 = performance.now();
    if (t0 < measureFrom || t1 > end) continue;
    if (response.status === 201) {
      latencies.push(t1 - t0);
      completed++;
    } else errors++;
  }
}

await Promise.all(tokens.map((token, i) => client(token, i)));
parentPort.postMessage({ latencies, errors, completed, seconds: durationMs / 1000 });
