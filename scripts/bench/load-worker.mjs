import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * Runs in its own thread so the load generator does not steal the event loop of the server it
 * measures. Each client creates tasks back to back over its own kept-alive connection;
 * latencies after the warm-up are reported. node:http rather than fetch: fetch costs several
 * times the CPU per request, and on a small machine the load generator shares the cores.
 *
 * By default clients create tasks; with `transfers` (one `{ from, to }` pair of wallet ids per
 * client) they make transfers of 1 minor unit instead, each with an Idempotency-Key of its own.
 */
const { url, tokens, warmupMs, durationMs, transfers } = workerData;
const latencies = [];
let errors = 0;
let completed = 0;
const start = performance.now();
const measureFrom = start + warmupMs;
const end = measureFrom + durationMs;

const agent = new http.Agent({ keepAlive: true, maxSockets: tokens.length });
const target = new URL(transfers ? '/api/transactions' : '/api/tasks', url);

function post(token, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      target,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
          ...(transfers ? { 'idempotency-key': randomUUID() } : {}),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function client(token, index) {
  let n = 0;
  while (performance.now() < end) {
    const t0 = performance.now();
    const body = transfers
      ? { from_wallet_id: transfers[index].from, to_wallet_id: transfers[index].to, amount: 1 }
      : { title: `bench ${index}-${n++}`, priority: 'medium', tags: ['bench'] };
    const status = await post(token, JSON.stringify(body)).catch(() => 0);
    const t1 = performance.now();
    if (t0 < measureFrom || t1 > end) continue;
    if (status === 201) {
      latencies.push(t1 - t0);
      completed++;
    } else errors++;
  }
}

/**
 * CPU clock ticks (user + system) this thread has used, from /proc (Linux); undefined elsewhere.
 * The bench subtracts them from the process's CPU: the load generator shares the process with
 * the server it measures, and its HTTP client costs a good part of what the server does.
 */
function threadTicks() {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

const ticksBefore = threadTicks();
await Promise.all(tokens.map((token, i) => client(token, i)));
const ticksAfter = threadTicks();
parentPort.postMessage({
  latencies,
  errors,
  completed,
  seconds: durationMs / 1000,
  cpuTicks: ticksBefore === undefined || ticksAfter === undefined ? undefined : ticksAfter - ticksBefore,
});
