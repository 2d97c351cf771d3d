import {
  type AppId,
  AppIds,
  AppTopics,
  DeadLetterAttributes,
  dataschemaFor,
  deadLetterTopic,
  type EventName,
  EventSchemas,
  SCHEMA_VERSION,
  type Topic,
  TopicEvents,
  TopicKeys,
  Topics,
  TYPE_PREFIX,
} from '../../src/events.js';
import { ComponentSchemas, type Json } from './json-schema.js';
import { API_VERSION } from './openapi.js';

const KAFKA_BINDING = '0.5.0';
const camel = (s: string) => s.replace(/[-._]([a-z])/g, (_, c: string) => c.toUpperCase());
const pascal = (s: string) => camel(s)[0].toUpperCase() + camel(s).slice(1);

const channelId = (topic: string) => camel(topic.replace('.dlq', '-dlq'));
const messageId = (name: EventName) => camel(name);
const schemaName = (name: EventName) => `${pascal(name)}Event`;
const ref = (...path: string[]) => ({ $ref: `#/${path.join('/')}` });

/**
 * The AsyncAPI 3.0 document: one channel per topic and its dead-letter topic, one message per
 * event type (a CloudEvent in structured mode), and each app's send/receive operations.
 */
export function buildAsyncApi(): Json {
  // AsyncAPI's default schema format is a superset of JSON Schema draft-07.
  const schemas = new ComponentSchemas('draft-07');
  const names = Object.keys(EventSchemas) as EventName[];
  const eventSchemas = Object.fromEntries(
    names.map((name) => [schemaName(name), schemas.add(EventSchemas[name], 'output')]),
  );
  const messages = Object.fromEntries(names.map((name) => [messageId(name), message(name)]));

  // A dead-letter topic exists only where some app consumes the topic.
  const consumed = new Set<string>(AppIds.flatMap((app) => AppTopics[app].subscribes));
  const channels: Record<string, Json> = {};
  for (const topic of Object.values(Topics)) {
    const events = TopicEvents[topic];
    channels[channelId(topic)] = {
      address: topic,
      title: topic,
      description: `${events.length ? `Carries ${events.map((e) => `\`${e}\``).join(', ')}.` : 'Reserved for commands to task-api; no command is defined yet.'} Kafka record key: ${TopicKeys[topic]}.`,
      messages: Object.fromEntries(
        events.map((e) => [messageId(e), ref('components', 'messages', messageId(e))]),
      ),
      bindings: { kafka: { topic, bindingVersion: KAFKA_BINDING } },
    };
    if (!consumed.has(topic)) continue;
    channels[channelId(deadLetterTopic(topic))] = {
      address: deadLetterTopic(topic),
      title: deadLetterTopic(topic),
      description: `Events a consumer of \`${topic}\` gave up on after its retries (1 s, 5 s, 25 s), unchanged but for the \`deadletter*\` attributes. GET /api/admin/dlq lists them, POST /api/admin/dlq/{id}/replay sends one back.`,
      messages: { deadLetter: { ...deadLetterMessage(topic) } },
      bindings: { kafka: { topic: deadLetterTopic(topic), bindingVersion: KAFKA_BINDING } },
    };
  }

  const operations: Record<string, Json> = {};
  for (const app of AppIds) {
    for (const [topic, events] of Object.entries(AppTopics[app].publishes) as [Topic, EventName[]][]) {
      operations[`${camel(app)}Send${pascal(topic)}`] = operation(app, 'send', topic, events);
    }
    for (const topic of AppTopics[app].subscribes) {
      operations[`${camel(app)}Receive${pascal(topic)}`] = operation(
        app,
        'receive',
        topic,
        TopicEvents[topic],
      );
      operations[`${camel(app)}Send${pascal(topic)}Dlq`] = {
        action: 'send',
        channel: ref('channels', channelId(deadLetterTopic(topic))),
        summary: `${app} dead-letters what it cannot handle from ${topic}`,
        messages: [ref('channels', channelId(deadLetterTopic(topic)), 'messages', 'deadLetter')],
        tags: [{ name: `app:${app}` }],
        'x-dapr-app-id': app,
      };
    }
  }

  const doc: Json = {
    asyncapi: '3.0.0',
    id: 'urn:taskstream:events',
    info: {
      title: 'taskstream events',
      version: API_VERSION,
      description:
        'CloudEvents 1.0 (JSON) between the taskstream services. Services publish and subscribe through ' +
        'their Dapr sidecar (pub/sub component `pubsub`, Kafka/Redpanda); the embedded runtime keeps the same ' +
        'topics in PostgreSQL. Delivery is at least once, in order per user (Kafka key = `user_id`), payment topics per wallet (key = a wallet id). ' +
        `Event schema version ${SCHEMA_VERSION}; each message's \`dataschema\` names its JSON Schema. ` +
        'Generated from contracts/src by `npm run contracts:generate`; do not edit.',
    },
    defaultContentType: 'application/cloudevents+json',
    servers: {
      kafka: {
        host: '{brokers}',
        protocol: 'kafka',
        description: 'Kafka protocol (Redpanda on Kubernetes); apps reach it only through the Dapr sidecar.',
        variables: {
          brokers: { default: '127.0.0.1:19092', description: 'bootstrap servers (local stack default)' },
        },
      },
    },
    channels,
    operations,
  };
  const components = {
    schemas: { ...eventSchemas, DeadLetterAttributes: schemas.add(DeadLetterAttributes, 'output') },
    messages,
    messageTraits: {
      cloudEvent: {
        contentType: 'application/cloudevents+json',
        correlationId: {
          description: 'W3C trace context of the write that caused the event',
          location: '$message.payload#/traceparent',
        },
        bindings: {
          kafka: {
            key: {
              type: 'string',
              format: 'uuid',
              description: 'the user id (one user’s events stay in order); on the payment topics a wallet id',
            },
            bindingVersion: KAFKA_BINDING,
          },
        },
      },
    },
  };
  doc.components = components;
  Object.assign(components.schemas, schemas.finish(doc, '#/components/schemas/'));
  return doc;
}

function message(name: EventName): Json {
  const type = `${TYPE_PREFIX}${name}`;
  return {
    name: type,
    title: name,
    summary: `CloudEvent \`${type}\`, dataschema ${dataschemaFor(name)}`,
    description:
      'Structured content mode: the Kafka record value is the whole CloudEvent as JSON ' +
      '(`application/cloudevents+json`), which is what Dapr publishes. In binary mode the attributes ' +
      'would travel as `ce_<attribute>` record headers and the value would be `data` alone (`application/json`).',
    payload: ref('components', 'schemas', schemaName(name)),
    traits: [ref('components', 'messageTraits', 'cloudEvent')],
    'x-cloudevents': {
      specversion: '1.0',
      type,
      dataschema: dataschemaFor(name),
      datacontenttype: 'application/json',
      modes: {
        structured: { contentType: 'application/cloudevents+json' },
        binary: {
          headerPrefix: 'ce_',
          contentType: 'application/json',
          payload: `#/components/schemas/${schemaName(name)}/properties/data`,
        },
      },
    },
  };
}

function deadLetterMessage(topic: Topic): Json {
  const events = TopicEvents[topic];
  const original = events.length
    ? [{ anyOf: events.map((e) => ref('components', 'schemas', schemaName(e))) }]
    : [];
  return {
    name: `${deadLetterTopic(topic)}`,
    title: `dead letter of ${topic}`,
    summary: `An event of \`${topic}\` with deadletterreason, deadletterconsumer and deadletterattempts`,
    payload: { allOf: [...original, ref('components', 'schemas', 'DeadLetterAttributes')] },
    traits: [ref('components', 'messageTraits', 'cloudEvent')],
  };
}

function operation(app: AppId, action: 'send' | 'receive', topic: Topic, events: EventName[]): Json {
  return {
    action,
    channel: ref('channels', channelId(topic)),
    summary: `${app} ${action === 'send' ? 'publishes to' : 'subscribes to'} ${topic}`,
    messages: events.map((e) => ref('channels', channelId(topic), 'messages', messageId(e))),
    tags: [{ name: `app:${app}` }],
    bindings:
      action === 'receive'
        ? {
            kafka: {
              groupId: { type: 'string', enum: [app] },
              clientId: { type: 'string', enum: [app] },
              bindingVersion: KAFKA_BINDING,
            },
          }
        : undefined,
    'x-dapr-app-id': app,
  };
}
