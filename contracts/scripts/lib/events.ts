import {
  dataschemaFor,
  type EventName,
  EventSchemas,
  SCHEMA_VERSION,
  TYPE_PREFIX,
} from '../../src/events.js';
import { type Json, toJsonSchema } from './json-schema.js';

/** Where the JSON Schema of an event version lives, relative to contracts/generated. */
export const eventSchemaFile = (name: string, version: string = SCHEMA_VERSION) =>
  `events/${name}.${version}.schema.json`;

/** `task.created.v1.schema.json` → `{ name: 'task.created', version: 'v1' }`. */
export function parseEventSchemaFile(file: string): { name: string; version: string } | undefined {
  const match = /^(.+)\.(v\d+)\.schema\.json$/.exec(file);
  return match ? { name: match[1], version: match[2] } : undefined;
}

/** The published JSON Schema (draft 2020-12) of one event type, `$id` = its `dataschema`. */
export function eventJsonSchema(name: EventName): Json {
  const { $schema, ...rest } = toJsonSchema(EventSchemas[name], 'output');
  return {
    $schema,
    $id: dataschemaFor(name),
    title: `${TYPE_PREFIX}${name} ${SCHEMA_VERSION}`,
    description: `CloudEvent ${TYPE_PREFIX}${name}. Generated from contracts/src/events.ts; do not edit.`,
    ...rest,
  };
}
