/**
 * Writes contracts/generated from the zod schemas in contracts/src:
 * events/<name>.<version>.schema.json, asyncapi.yaml and openapi.json.
 * Run with `npm run contracts:generate`; commit the result (a unit test fails when it is stale).
 *
 * Schema files of older versions are kept: they are the published contracts of those versions.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_VERSION } from '../src/events.js';
import { buildArtifacts, GENERATED_DIR } from './lib/artifacts.js';
import { parseEventSchemaFile } from './lib/events.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, GENERATED_DIR);
const files = buildArtifacts();

// A current-version schema of an event type that no longer exists would pass for a live contract.
mkdirSync(join(out, 'events'), { recursive: true });
for (const file of readdirSync(join(out, 'events'))) {
  const path = `events/${file}`;
  if (parseEventSchemaFile(file)?.version === SCHEMA_VERSION && !files.has(path)) {
    rmSync(join(out, path));
    console.log(`removed ${GENERATED_DIR}/${path}`);
  }
}
for (const [path, content] of files) {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), content);
}
console.log(`wrote ${files.size} files to ${GENERATED_DIR}`);
