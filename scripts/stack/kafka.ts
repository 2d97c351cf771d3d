/**
 * Reads records straight from the stack's Kafka with Kafka's own console consumer (from the
 * cached broker classpath), so e2e tests can see what really is on a topic: keys included.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { readStackEnv, type StackEnv } from './sidecar.js';

export interface KafkaRecord {
  key: string;
  partition: number;
  value: string;
}

/**
 * Reads up to `max` records of `topic`, giving up after `timeoutMs` of silence: from the
 * beginning of all partitions, or of one `partition` from `offset` on (a topic that has seen a
 * bench holds far too much to read from the start).
 */
export async function readTopic(
  topic: string,
  options: { max: number; timeoutMs?: number; env?: StackEnv; partition?: number; offset?: number },
): Promise<KafkaRecord[]> {
  const env = options.env ?? readStackEnv();
  const classpath = readFileSync(env.KAFKA_CLASSPATH_FILE, 'utf8').trim();
  const from =
    options.partition === undefined
      ? ['--from-beginning']
      : ['--partition', String(options.partition), '--offset', String(options.offset ?? 'earliest')];
  const { stdout } = await promisify(execFile)(
    'java',
    [
      '-cp',
      classpath,
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      env.KAFKA_BROKERS,
      '--topic',
      topic,
      ...from,
      '--max-messages',
      String(options.max),
      '--timeout-ms',
      String(options.timeoutMs ?? 10_000),
      '--formatter-property',
      'print.key=true',
      '--formatter-property',
      'print.partition=true',
      '--formatter-property',
      'key.separator=\u0001',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })); // a time-out still prints what it read
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('Partition:'))
    .map((line) => {
      // "Partition:<n>\u0001<key>\u0001<value>" with the separator between every printed part
      const [partition, key, ...value] = line.split('\u0001');
      return { partition: Number(partition.slice('Partition:'.length)), key, value: value.join('\u0001') };
    });
}

/**
 * The next offset of every partition of `topic` (what a record written now would get), by
 * partition; an unknown topic has none.
 */
export async function endOffsets(
  topic: string,
  options: { env?: StackEnv } = {},
): Promise<Map<number, number>> {
  const env = options.env ?? readStackEnv();
  const classpath = readFileSync(env.KAFKA_CLASSPATH_FILE, 'utf8').trim();
  const { stdout } = await promisify(execFile)('java', [
    '-cp',
    classpath,
    'org.apache.kafka.tools.GetOffsetShell',
    '--bootstrap-server',
    env.KAFKA_BROKERS,
    '--topic',
    topic,
    '--time',
    '-1',
  ]);
  const offsets = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    // "<topic>:<partition>:<offset>"
    const match = /:(\d+):(\d+)$/.exec(line.trim());
    if (match) offsets.set(Number(match[1]), Number(match[2]));
  }
  return offsets;
}

/** sarama's default HashPartitioner, which daprd's Kafka producer uses: FNV-1a 32 of the key, as int32, mod n, abs. */
export function saramaPartition(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return Math.abs((hash | 0) % partitions);
}
