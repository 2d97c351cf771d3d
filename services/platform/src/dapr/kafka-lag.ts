import { Admin, ListOffsetTimestamps } from '@platformatic/kafka';
import type { ConsumerLag } from '../ports.js';

/** How a client of ours reaches the brokers: as the pub/sub component does. */
export interface KafkaConnectionOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  clientId: string;
  /** SASL/SCRAM, as the pub/sub component authenticates (Redpanda Cloud). */
  sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  /** TLS with the system's CA bundle and SNI, as the pub/sub component connects. */
  tls?: boolean;
  /** Per broker request; a scrape or a stats call should fail rather than hang on a dead broker. */
  requestTimeoutMs?: number;
}

/** The @platformatic/kafka client options for `options` (admin and consumer alike). */
export function kafkaClientOptions(options: KafkaConnectionOptions) {
  const timeout = options.requestTimeoutMs ?? 5000;
  return {
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    sasl: options.sasl,
    tls: options.tls ? {} : undefined,
    tlsServerName: options.tls ? true : undefined,
    connectTimeout: timeout,
    requestTimeout: timeout,
    timeout,
    // One retry: a scrape comes again in a few seconds anyway.
    retries: 1,
    retryDelay: 250,
  };
}

export interface KafkaLagOptions extends KafkaConnectionOptions {
  /**
   * Whether a group starts at the oldest retained event when it has no committed offset on a
   * partition (the `pubsub` component's groups, named after app ids); otherwise it starts at the
   * newest (the broadcast groups of sync pods), and such a partition counts as not behind.
   */
  startsAtOldest: (group: string) => boolean;
}

/** A group known to consume some topics whether or not it committed there yet (the app's own). */
export interface KnownGroup {
  group: string;
  topics: Iterable<string>;
}

export interface KafkaLagReader {
  /** Lag of every consumer group with committed offsets on these topics, and of `known`. */
  read(topics: Iterable<string>, known?: KnownGroup): Promise<ConsumerLag[]>;
  close(): Promise<void>;
}

/** Per topic, per partition index: the log start (oldest retained offset) and the log end. */
export type TopicOffsets = Map<string, { start: number; end: number }[]>;

export interface GroupOffsets {
  /** Committed offsets: topic → partition → the next offset the group will read. */
  committed: Map<string, Map<number, number>>;
  /** Topics the group is known to consume, whether or not it committed there yet. */
  subscribed: Set<string>;
}

/**
 * The consumer lag of ADR 0011 on Kafka: per partition, the log end minus where the group reads
 * next, summed per topic. Where the group reads next is its committed offset, or the log start
 * when retention removed what it had not read (it resumes there); without a committed offset,
 * the log start for a group that starts at the oldest event and the log end (nothing behind) for
 * one that starts at the newest. A group is measured on a topic when it committed an offset there
 * or is known to consume it (the app's own group: stuck on its very first event, it shows its lag).
 */
export function lagOfGroups(
  topics: TopicOffsets,
  groups: Map<string, GroupOffsets>,
  startsAtOldest: (group: string) => boolean,
): ConsumerLag[] {
  const out: ConsumerLag[] = [];
  for (const [group, offsets] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const measured = new Set([...offsets.committed.keys(), ...offsets.subscribed]);
    for (const topic of [...measured].sort()) {
      const partitions = topics.get(topic);
      if (!partitions) continue; // not one of ours, or not created yet
      const committed = offsets.committed.get(topic);
      let lag = 0;
      partitions.forEach(({ start, end }, partition) => {
        const offset = committed?.get(partition);
        const next =
          offset === undefined || offset < 0
            ? startsAtOldest(group)
              ? start
              : end
            : Math.max(offset, start);
        lag += Math.max(0, end - next);
      });
      out.push({ consumer: group, topic, lag });
    }
  }
  return out;
}

/**
 * Reads consumer lag from Kafka's admin API (pure JavaScript client, no native code): the topics'
 * partitions and their start and end offsets, every consumer group and its committed offsets.
 * Concurrent reads (a scrape and a stats call) share one round.
 *
 * Not DescribeGroups (which would name the topics of groups that have not committed yet):
 * @platformatic/kafka 1.35 misreads the member assignment daprd's client sends and throws from
 * its socket handler, which no caller can catch: the process dies.
 */
/** Per partition of each of `names` (topics that exist): the oldest retained offset and the log end. */
export async function topicOffsets(admin: Admin, names: string[]): Promise<TopicOffsets> {
  const topics: TopicOffsets = new Map();
  if (names.length === 0) return topics;
  const metadata = await admin.metadata({ topics: names });
  const request = (timestamp: bigint) => ({
    topics: names.map((name) => ({
      name,
      partitions: Array.from({ length: metadata.topics.get(name)?.partitionsCount ?? 0 }, (_, i) => ({
        partitionIndex: i,
        timestamp,
      })),
    })),
  });
  const [ends, starts] = await Promise.all([
    admin.listOffsets(request(ListOffsetTimestamps.LATEST)),
    admin.listOffsets(request(ListOffsetTimestamps.EARLIEST)),
  ]);
  for (const topic of ends) {
    const start = starts.find((t) => t.name === topic.name)?.partitions ?? [];
    const partitions: { start: number; end: number }[] = [];
    for (const p of topic.partitions) {
      const s = start.find((x) => x.partitionIndex === p.partitionIndex);
      partitions[p.partitionIndex] = { start: Number(s?.offset ?? 0n), end: Number(p.offset) };
    }
    topics.set(topic.name, partitions);
  }
  return topics;
}

export function createKafkaLagReader(options: KafkaLagOptions): KafkaLagReader {
  const admin = new Admin(kafkaClientOptions(options));
  const pending = new Map<string, Promise<ConsumerLag[]>>();

  async function readOnce(wanted: Set<string>, known?: KnownGroup): Promise<ConsumerLag[]> {
    const existing = (await admin.listTopics()).filter((t) => wanted.has(t));
    if (existing.length === 0) return [];
    const topics = await topicOffsets(admin, existing);

    const ids = [...(await admin.listGroups()).keys()];
    const groups = new Map<string, GroupOffsets>();
    const committed = ids.length > 0 ? await admin.listConsumerGroupOffsets({ groups: ids }) : [];
    for (const group of committed) {
      const byTopic = new Map<string, Map<number, number>>();
      for (const topic of group.topics) {
        if (!topics.has(topic.name)) continue;
        const partitions = new Map<number, number>();
        for (const p of topic.partitions) partitions.set(p.partitionIndex, Number(p.committedOffset));
        byTopic.set(topic.name, partitions);
      }
      groups.set(group.groupId, { committed: byTopic, subscribed: new Set() });
    }
    if (known) {
      const entry = groups.get(known.group) ?? { committed: new Map(), subscribed: new Set() };
      for (const topic of known.topics) entry.subscribed.add(topic);
      groups.set(known.group, entry);
    }
    return lagOfGroups(topics, groups, options.startsAtOldest);
  }

  return {
    read(topics, known) {
      const wanted = new Set(topics);
      const ownTopics = known ? [...known.topics] : [];
      const key = JSON.stringify([[...wanted].sort(), known?.group, ownTopics.sort()]);
      let round = pending.get(key);
      if (!round) {
        round = readOnce(wanted, known && { group: known.group, topics: ownTopics }).finally(() =>
          pending.delete(key),
        );
        pending.set(key, round);
      }
      return round;
    },
    async close() {
      await admin.close();
    },
  };
}
