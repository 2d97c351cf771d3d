import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createKafkaTopicBrowser } from '@taskstream/platform';
import type pg from 'pg';
import { repoRoot, type StackEnv } from '../stack/sidecar.js';
import { percentile, processTable, processTreeCpuMs, round } from './support.js';

/**
 * Where the time of one event goes in the Dapr runtime, from what the services already record:
 * the outbox row (created_at: its transaction; published_at: the relay's mark, the same for every
 * row of one relay batch), the Kafka record's timestamp (stamped by daprd's producer as the record
 * enters it) and audit's row of the event (recorded_at: its insert in audit's handler).
 */
const TOPICS = ['task-events', 'task-updates'];

interface OutboxRow {
  id: string;
  topic: string;
  partition_key: string;
  created_ms: number;
  published_ms: number;
}

export async function hopBreakdown(pool: pg.Pool, env: StackEnv, userIds: string[], since: Date) {
  const { rows } = await pool.query<OutboxRow>(
    `SELECT event->>'id' AS id, topic, partition_key,
            extract(epoch FROM created_at) * 1000 AS created_ms,
            extract(epoch FROM published_at) * 1000 AS published_ms
       FROM outbox
      WHERE partition_key = ANY($1::text[]) AND created_at >= $2 AND published_at IS NOT NULL`,
    [userIds, since],
  );
  const kafkaMs = await kafkaTimestamps(env, since);
  const events = rows.filter((r) => r.topic === 'task-events');
  const { rows: audited } = await pool.query<{ id: string; recorded_ms: number }>(
    `SELECT event_id::text AS id, extract(epoch FROM recorded_at) * 1000 AS recorded_ms
       FROM audit_logs WHERE event_id = ANY($1::uuid[])`,
    [events.map((e) => e.id)],
  );
  const recordedMs = new Map(audited.map((a) => [a.id, Number(a.recorded_ms)]));

  // A relay batch: the rows one mark statement set (one published_at). Its first record into the
  // producer is when the relay had read it and sent its first bulk request.
  const batches = new Map<number, OutboxRow[]>();
  for (const row of rows) {
    const key = Number(row.published_ms);
    batches.set(key, [...(batches.get(key) ?? []), row]);
  }
  const batchStart = new Map<number, number>();
  const sizes: number[] = [];
  const rounds: number[] = [];
  const roundMs: number[] = [];
  // From one batch's mark to the next batch's first record into the producer: the relay reading
  // the next rows and sending them to the sidecar.
  const gaps: number[] = [];
  let lastMark: number | undefined;
  for (const [published, batch] of [...batches].sort(([a], [b]) => a - b)) {
    const stamps = batch.map((r) => kafkaMs.get(`${r.topic}|${r.id}`)).filter((t) => t !== undefined);
    if (stamps.length === 0) continue;
    const start = Math.min(...stamps);
    batchStart.set(published, start);
    // The relay's rounds: one bulk request per topic for each key's n-th record, one after the other.
    const perLane = new Map<string, number>();
    for (const r of batch)
      perLane.set(`${r.topic}|${r.partition_key}`, (perLane.get(`${r.topic}|${r.partition_key}`) ?? 0) + 1);
    const depth = Math.max(...perLane.values());
    sizes.push(batch.length);
    rounds.push(depth);
    roundMs.push((published - start) / depth);
    if (lastMark !== undefined) gaps.push(start - lastMark);
    lastMark = published;
  }

  const hops: Record<string, number[]> = {
    outbox_wait: [],
    relay_rounds: [],
    commit_to_kafka: [],
    kafka_to_marked: [],
    kafka_to_audit_effect: [],
    commit_to_audit_effect: [],
  };
  let missingInKafka = 0;
  for (const e of events) {
    const created = Number(e.created_ms);
    const kafka = kafkaMs.get(`${e.topic}|${e.id}`);
    const start = batchStart.get(Number(e.published_ms));
    if (kafka === undefined || start === undefined) {
      missingInKafka++;
      continue;
    }
    hops.outbox_wait!.push(start - created);
    hops.relay_rounds!.push(kafka - start);
    hops.commit_to_kafka!.push(kafka - created);
    hops.kafka_to_marked!.push(Number(e.published_ms) - kafka);
    const recorded = recordedMs.get(e.id);
    if (recorded !== undefined) {
      hops.kafka_to_audit_effect!.push(recorded - kafka);
      hops.commit_to_audit_effect!.push(recorded - created);
    }
  }
  const figures: Record<string, number> = {
    hop_events: events.length,
    hop_events_not_found_in_kafka: missingInKafka,
    hop_events_not_in_audit: events.length - recordedMs.size,
  };
  for (const [name, values] of Object.entries(hops)) Object.assign(figures, p50p99(`hop_${name}`, values));
  Object.assign(
    figures,
    p50p99('relay_batch_rows', sizes, 0),
    p50p99('relay_batch_rounds', rounds, 0),
    p50p99('relay_round', roundMs),
    p50p99('relay_gap', gaps),
  );
  figures.relay_batches = sizes.length;
  return figures;
}

function p50p99(name: string, values: number[], digits = 1): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    [`${name}_p50${digits ? '_ms' : ''}`]: round(percentile(sorted, 50), digits),
    [`${name}_p99${digits ? '_ms' : ''}`]: round(percentile(sorted, 99), digits),
  };
}

/** `<topic>|<CloudEvent id>` → the record's Kafka timestamp (ms), for records since `since`. */
async function kafkaTimestamps(env: StackEnv, since: Date): Promise<Map<string, number>> {
  const browser = createKafkaTopicBrowser({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'taskstream-bench',
  });
  const stamps = new Map<string, number>();
  try {
    const summaries = (await browser.topics()).filter((t) => TOPICS.includes(t.topic));
    for (const { topic, partitions } of summaries) {
      for (const { partition } of partitions) {
        let page = await browser.read(topic, { partition, since, limit: 100_000 });
        while (page) {
          for (const m of page.messages) {
            const id = (m.event as { id?: unknown } | null)?.id;
            if (typeof id === 'string') stamps.set(`${topic}|${id}`, Date.parse(m.timestamp));
          }
          page =
            page.next === null
              ? undefined
              : await browser.read(topic, { partition, from: page.next, limit: 100_000 });
        }
      }
    }
  } finally {
    await browser.close?.();
  }
  return stamps;
}

/** The stack's processes (scripts/stack/stack.sh writes `.stack/<name>.pid`): name → pid. */
export function stackProcesses(root = repoRoot): Record<string, string> {
  const dir = path.join(root, '.stack');
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => [f.replace(/\.pid$/, ''), readFileSync(path.join(dir, f), 'utf8').split(' ')[0]!.trim()]),
  );
}

/** CPU (ms) of each stack process with its descendants (PostgreSQL's backends, say). */
export async function stackCpuMs(processes: Record<string, string>): Promise<Record<string, number>> {
  const table = await processTable();
  return Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [name, processTreeCpuMs(table, pid)]),
  );
}

/** CPU seconds per 1,000 events of each process between two `stackCpuMs` readings. */
export function cpuPerThousand(
  before: Record<string, number>,
  after: Record<string, number>,
  events: number,
): Record<string, number> {
  const figures: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(before).sort()) {
    const used = (after[name] ?? Number.NaN) - before[name]!;
    if (!Number.isFinite(used)) continue;
    total += used;
    // ms per event is s per 1,000 events.
    figures[`cpu_s_per_1k_events_${name}`] = round(used / events, 3);
  }
  figures.cpu_s_per_1k_events_total = round(total / events, 3);
  return figures;
}

/**
 * A Prometheus histogram's buckets (cumulative counts by upper bound, seconds or ms as exported)
 * summed over the series whose labels contain every `match` pair, from a /metrics text.
 */
export function histogramBuckets(
  text: string,
  name: string,
  match: Record<string, string>,
): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (!Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (!le) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/** The sum of a counter's (or a histogram's `_count`) series whose labels include `match`. */
export function metricSum(text: string, name: string, match: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The upper bound of the bucket holding the p-th percentile of what was observed between two scrapes. */
export function bucketPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const bound of bounds) {
    if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= (p / 100) * total) return bound;
  }
  return Number.NaN;
}
