import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type StackEnv, startSidecar } from '../stack/sidecar.js';
import { percentile, round } from './support.js';

/**
 * What daprd + Kafka alone do on this machine, beside our figures of the same run: no outbox, no
 * database, no service in between. Topics of their own, so no service consumes them.
 */
const BULK_TOPIC = 'bench-bare-bulk';
const HOP_TOPIC = 'bench-bare-hop';

type CloudEvent = Record<string, unknown> & { id: string };

/** POSTs JSON to a daprd's HTTP API with the stack's API token; throws unless it answers 2xx. */
async function daprPost(
  env: StackEnv,
  port: number,
  route: string,
  body: unknown,
  contentType = 'application/json',
) {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    headers: { 'content-type': contentType, 'dapr-api-token': env.DAPR_API_TOKEN },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`daprd ${route} answered ${response.status}: ${await response.text()}`);
}

/**
 * Bulk publish through one sidecar as the relay uses it: one request at a time, `entries` events
 * shaped like `sample` with a key each, the next request once Kafka acknowledged the last.
 */
export async function bareBulkPublish(
  env: StackEnv,
  daprHttpPort: number,
  sample: CloudEvent,
  options: { entries: number; durationMs: number },
) {
  const route = `/v1.0-alpha1/publish/bulk/pubsub/${BULK_TOPIC}`;
  const bulk = () =>
    Array.from({ length: options.entries }, (_, i) => ({
      entryId: String(i),
      event: { ...sample, id: randomUUID() },
      contentType: 'application/cloudevents+json',
      metadata: { partitionKey: `bare-${i}` },
    }));
  await daprPost(env, daprHttpPort, route, bulk()); // the topic exists before timing starts
  let published = 0;
  const started = performance.now();
  while (performance.now() - started < options.durationMs) {
    await daprPost(env, daprHttpPort, route, bulk());
    published += options.entries;
  }
  return round(published / ((performance.now() - started) / 1000));
}

/**
 * Publish → subscriber latency of one hop: events published one by one at `ratePerS` through the
 * sidecar at `daprHttpPort` (each call not waiting for the last, as concurrent requests publish)
 * and received by a bare HTTP app behind a daprd of its own, which only notes the time.
 */
export async function bareHop(
  env: StackEnv,
  daprHttpPort: number,
  sample: CloudEvent,
  options: { ratePerS: number; durationMs: number },
) {
  const received = new Map<string, number>();
  const app = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/dapr/subscribe') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify([{ pubsubname: 'pubsub', topic: HOP_TOPIC, route: '/bare' }]));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      try {
        const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: string }).id;
        if (id && !received.has(id)) received.set(id, at);
      } catch {}
      res.setHeader('content-type', 'application/json');
      res.end('{"status":"SUCCESS"}');
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = (app.address() as { port: number }).port;
  const publish = (id: string) =>
    daprPost(
      env,
      daprHttpPort,
      `/v1.0/publish/pubsub/${HOP_TOPIC}?metadata.partitionKey=${id}`,
      { ...sample, id },
      // As the relay publishes: our CloudEvent as it is (as JSON, daprd would wrap it in its own).
      'application/cloudevents+json',
    );
  // The topic exists before the subscriber joins: a consumer of a topic not yet created gets no
  // partitions until its client refreshes the cluster's metadata, minutes later.
  await publish(randomUUID());
  const sidecar = await startSidecar({ appId: 'bench-bare', appPort, env, readyTimeoutMs: 60_000 });
  try {
    // The subscriber's consumer group joins its partitions some seconds after daprd is healthy.
    const deadline = performance.now() + 60_000;
    while (received.size === 0) {
      if (performance.now() > deadline)
        throw new Error(
          `the bare subscriber received nothing in 60 s; daprd: ${sidecar.logs().slice(-1500)}`,
        );
      await publish(randomUUID());
      await new Promise((r) => setTimeout(r, 500));
    }
    const sent = new Map<string, number>();
    const calls: Promise<void>[] = [];
    const interval = 1000 / options.ratePerS;
    const started = performance.now();
    for (let n = 0; n * interval < options.durationMs; n++) {
      const due = started + n * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const id = randomUUID();
      sent.set(id, performance.now());
      calls.push(publish(id));
    }
    await Promise.all(calls);
    const settle = performance.now() + 10_000;
    while ([...sent.keys()].some((id) => !received.has(id)) && performance.now() < settle)
      await new Promise((r) => setTimeout(r, 100));
    const latencies = [...sent]
      .filter(([id]) => received.has(id))
      .map(([id, at]) => received.get(id)! - at)
      .sort((a, b) => a - b);
    return {
      events: sent.size,
      missing: sent.size - latencies.length,
      p50_ms: round(percentile(latencies, 50), 1),
      p99_ms: round(percentile(latencies, 99), 1),
    };
  } finally {
    await sidecar.close();
    await new Promise((resolve) => app.close(resolve));
  }
}
