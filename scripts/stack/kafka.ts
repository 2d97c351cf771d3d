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

/** Reads up to `max` records of `topic` from the beginning, giving up after `timeoutMs` of silence. */
export async function readTopic(
  topic: string,
  options: { max: number; timeoutMs?: number; env?: StackEnv },
): Promise<KafkaRecord[]> {
  const env = options.env ?? readStackEnv();
  const classpath = readFileSync(env.KAFKA_CLASSPATH_FILE, 'utf8').trim();
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
      '--from-beginning',
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
