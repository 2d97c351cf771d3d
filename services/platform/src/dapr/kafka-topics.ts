import { Admin, Consumer } from '@platformatic/kafka';
import type { TopicBrowser, TopicMessage, TopicPage } from '../ports.js';
import { type KafkaConnectionOptions, kafkaClientOptions, topicOffsets } from './kafka-lag.js';

/** Bytes fetched for one page: the bound on what one read scans (for a key filter, too). */
export const TOPIC_FETCH_BYTES = 1024 * 1024;

const text = (b: Buffer | null | undefined) => (b == null ? null : b.toString('utf8'));

/** A record's value as the CloudEvent it carries (JSON), or its text. */
export function eventOfValue(value: Buffer | null): unknown {
  const body = text(value);
  if (body === null) return null;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

interface FetchedRecord {
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer | null, Buffer | null][];
}

/**
 * One page out of fetched records: those at or after `from`, with `key` if given, at most
 * `limit`; `next` is where reading goes on (after the last one taken, or after all that was
 * scanned), null once the log end is reached.
 */
export function pageOf(
  topic: string,
  partition: number,
  records: FetchedRecord[],
  query: { from: bigint; key?: string; limit: number; end: bigint },
): TopicPage {
  const messages: TopicMessage[] = [];
  let next = query.from;
  for (const record of records) {
    if (record.offset < query.from) continue; // a batch begins before the offset asked for
    if (messages.length >= query.limit) break;
    next = record.offset + 1n;
    const key = text(record.key);
    if (query.key !== undefined && key !== query.key) continue;
    messages.push({
      topic,
      partition,
      position: Number(record.offset),
      key,
      timestamp: new Date(Number(record.timestamp)).toISOString(),
      headers: Object.fromEntries(
        record.headers.filter(([k]) => k !== null).map(([k, v]) => [text(k)!, text(v) ?? '']),
      ),
      event: eventOfValue(record.value),
    });
  }
  return { messages, next: next >= query.end ? null : Number(next) };
}

/**
 * The Kafka side of the topic browser: the topics and their offsets from the admin API, and a
 * page of one partition by a single Fetch to its leader (no consumer group joined, nothing
 * committed): at most TOPIC_FETCH_BYTES, from an offset or from the first offset at a time.
 */
export function createKafkaTopicBrowser(options: KafkaConnectionOptions): TopicBrowser {
  const admin = new Admin(kafkaClientOptions(options));
  // Fetch needs no group; the id is only what the client must be built with.
  const consumer = new Consumer({ ...kafkaClientOptions(options), groupId: `${options.clientId}-browser` });
  const visible = (name: string) => !name.startsWith('_');

  return {
    async topics() {
      const names = (await admin.listTopics()).filter(visible).sort();
      const offsets = await topicOffsets(admin, names);
      return names.map((topic) => ({
        topic,
        partitions: (offsets.get(topic) ?? []).map((p, partition) => ({ partition, ...p })),
      }));
    },

    async read(topic, query) {
      if (!visible(topic) || !(await admin.listTopics()).includes(topic)) return undefined;
      const offsets = (await topicOffsets(admin, [topic])).get(topic) ?? [];
      const bounds = offsets[query.partition];
      if (!bounds) return undefined;
      let from = BigInt(Math.max(query.from ?? bounds.start, bounds.start));
      if (query.since) {
        const [listed] = await admin.listOffsets({
          topics: [
            {
              name: topic,
              partitions: [{ partitionIndex: query.partition, timestamp: BigInt(query.since.getTime()) }],
            },
          ],
        });
        const offset = listed?.partitions[0]?.offset ?? -1n;
        from = offset < 0n ? BigInt(bounds.end) : offset;
      }
      const end = BigInt(bounds.end);
      if (from >= end) return { messages: [], next: null };
      const metadata = await consumer.metadata({ topics: [topic] });
      const described = metadata.topics.get(topic);
      const leader = described?.partitions[query.partition]?.leader;
      if (!described || leader === undefined) return undefined;
      const response = await consumer.fetch({
        node: leader,
        maxWaitTime: 0,
        minBytes: 1,
        maxBytes: TOPIC_FETCH_BYTES,
        topics: [
          {
            topicId: described.id,
            partitions: [
              {
                partition: query.partition,
                currentLeaderEpoch: -1,
                fetchOffset: from,
                lastFetchedEpoch: -1,
                partitionMaxBytes: TOPIC_FETCH_BYTES,
              },
            ],
          },
        ],
      });
      const records: FetchedRecord[] = [];
      for (const part of response.responses[0]?.partitions ?? []) {
        for (const batch of part.records ?? []) {
          for (const record of batch.records) {
            records.push({
              offset: batch.firstOffset + BigInt(record.offsetDelta),
              timestamp: batch.firstTimestamp + record.timestampDelta,
              key: record.key,
              value: record.value,
              headers: record.headers,
            });
          }
        }
      }
      return pageOf(topic, query.partition, records, { from, key: query.key, limit: query.limit, end });
    },

    async close() {
      await Promise.all([admin.close(), consumer.close(true)]);
    },
  };
}
