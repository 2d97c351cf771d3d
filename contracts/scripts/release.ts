/**
 * Keeps the contracts of a release: `npm run contracts:release` copies contracts/generated's
 * openapi.json and current-version event schemas to contracts/releases/<version>/ (the version of
 * the root package.json). Later changes are checked against the newest release kept there
 * (contracts/src/generated.unit.test.ts); run it when cutting a release, after bumping the version.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_VERSION } from '../src/events.js';
import { GENERATED_DIR } from './lib/artifacts.js';
import { parseEventSchemaFile } from './lib/events.js';
import { RELEASES_DIR, repoRoot } from './lib/releases.js';

const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const out = join(repoRoot, RELEASES_DIR, version);
if (existsSync(out)) {
  console.error(`${RELEASES_DIR}/${version} exists already: bump the version in package.json first`);
  process.exit(1);
}
const generated = join(repoRoot, GENERATED_DIR);
mkdirSync(join(out, 'events'), { recursive: true });
cpSync(join(generated, 'openapi.json'), join(out, 'openapi.json'));
for (const file of readdirSync(join(generated, 'events')))
  if (parseEventSchemaFile(file)?.version === SCHEMA_VERSION)
    cpSync(join(generated, 'events', file), join(out, 'events', file));
console.log(`kept the contracts of ${version} in ${RELEASES_DIR}/${version}`);
