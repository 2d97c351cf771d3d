import { SpanStatusCode } from '@opentelemetry/api';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DeliveryContext, Envelope, HandlerResult, Subscription } from '../ports.js';
import { inSpan, SpanKind } from '../telemetry.js';
import { traceIdOf } from '../trace.js';

/**
 * CloudEvents extension naming the one consumer a replayed dead letter is meant for: the other
 * consumers of the topic acknowledge it without running their handler (their inboxes would make
 * it a no-op anyway; this spares them the work).
 */
export const REPLAY_CONSUMER_ATTRIBUTE = 'replayconsumer';
/** Extensions the bus adds to a dead-lettered event; a replay takes them off again. */
export const DEAD_LETTER_ATTRIBUTES = [
  'deadletterreason',
  'deadletterconsumer',
  'deadletterattempts',
] as const;

/** The event-bus series of every service's /metrics, the same in both runtimes. */
export function deliveryMetrics(metrics: Metrics | undefined) {
  return {
    consumed: metrics?.counter(
      'events_consumed_total',
      'Events handled, by result (success, drop, retry, error, dead_lettered)',
      ['topic', 'consumer', 'result'],
    ),
    retried: metrics?.counter('events_retried_total', 'Failed deliveries that will be attempted again', [
      'topic',
      'consumer',
    ]),
    deadLettered: metrics?.counter(
      'events_dead_lettered_total',
      'Events sent to the dead-letter topic after their last attempt',
      ['topic', 'consumer'],
    ),
    duration: metrics?.histogram(
      'event_handler_duration_seconds',
      'Handler duration',
      ['topic', 'consumer'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    ),
  };
}

export type DeliveryMetrics = ReturnType<typeof deliveryMetrics>;

export interface Delivery {
  topic: string;
  consumer: string;
  attempt: number;
}

/**
 * Runs a subscription's handler for one delivery, as both bus adapters do: in a consumer span
 * that continues the event's traceparent, with a logger carrying the trace id, topic, consumer
 * and event id, timed and counted. Returns the error text, or undefined when the event is done
 * with (SUCCESS or DROP).
 */
export async function runHandler(
  sub: Subscription,
  event: Envelope,
  delivery: Delivery,
  logger: Logger,
  metrics: DeliveryMetrics,
): Promise<string | undefined> {
  const { topic, consumer, attempt } = delivery;
  const target = event[REPLAY_CONSUMER_ATTRIBUTE];
  if (typeof target === 'string') {
    if (target !== consumer) {
      metrics.consumed?.inc({ topic, consumer, result: 'drop' });
      return undefined;
    }
    event = withoutAttributes(event, [REPLAY_CONSUMER_ATTRIBUTE]);
  }
  const end = metrics.duration?.startTimer({ topic, consumer });
  try {
    return await inSpan(
      `${topic} process`,
      event.traceparent,
      SpanKind.CONSUMER,
      async (traceparent, span) => {
        if (span.isRecording())
          span.setAttributes({
            'messaging.system': 'taskstream',
            'messaging.destination.name': topic,
            'messaging.consumer.group.name': consumer,
            'messaging.message.id': event.id,
            'messaging.operation.type': 'process',
            'cloudevents.event_type': event.type,
            'taskstream.attempt': attempt,
          });
        let log: Logger | undefined;
        const context: DeliveryContext = {
          topic,
          consumer,
          attempt,
          traceparent,
          // Made on first use: few handlers log, and a child logger for every event was among
          // the largest allocations of a busy consumer.
          get log() {
            log ??= logger.child({
              trace_id: traceIdOf(traceparent),
              topic,
              consumer,
              event_id: event.id,
              attempt,
            });
            return log;
          },
        };
        let result: HandlerResult;
        try {
          result = (await sub.handler(event, context)) ?? 'SUCCESS';
        } catch (err) {
          metrics.consumed?.inc({ topic, consumer, result: 'error' });
          const text = err instanceof Error ? err.message || err.name : String(err);
          span.setStatus({ code: SpanStatusCode.ERROR, message: text });
          return text;
        }
        metrics.consumed?.inc({ topic, consumer, result: result.toLowerCase() });
        return result === 'RETRY' ? 'handler asked to retry' : undefined;
      },
    );
  } finally {
    end?.();
  }
}

/** The event without the given extension attributes. */
export function withoutAttributes(event: Envelope, names: readonly string[]): Envelope {
  const copy: Envelope = { ...event };
  for (const name of names) delete copy[name];
  return copy;
}
