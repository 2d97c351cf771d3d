import { EventNames } from '../../src/events.js';
import { buildAsyncApi } from './asyncapi.js';
import { toJson, toYaml } from './canonical.js';
import { eventJsonSchema, eventSchemaFile } from './events.js';
import { buildOpenApi } from './openapi.js';

/** contracts/generated, from the repository root. */
export const GENERATED_DIR = 'contracts/generated';

/**
 * Every generated file of the current schema version, path (relative to GENERATED_DIR) →
 * content. Pure and deterministic: the same sources give the same bytes.
 */
export function buildArtifacts(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of EventNames) files.set(eventSchemaFile(name), toJson(eventJsonSchema(name)));
  files.set('asyncapi.yaml', toYaml(buildAsyncApi()));
  files.set('openapi.json', toJson(buildOpenApi()));
  return files;
}
