import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The contracts of each release, as `npm run contracts:release` kept them. */
export const RELEASES_DIR = 'contracts/releases';

const semver = (v: string) => v.split(/[.-]/).slice(0, 3).map(Number);
const newer = (a: string, b: string) => {
  const [x, y] = [semver(a), semver(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
};

export interface Release {
  version: string;
  openapi: unknown;
  /** file name → JSON Schema of each event type */
  events: Map<string, unknown>;
}

/** The newest release kept, or undefined before the first. */
export function latestRelease(): Release | undefined {
  const dir = join(repoRoot, RELEASES_DIR);
  if (!existsSync(dir)) return undefined;
  const versions = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d+\.\d+\.\d+/.test(e.name))
    .map((e) => e.name)
    .sort(newer);
  const version = versions.at(-1);
  if (!version) return undefined;
  const read = (file: string) => JSON.parse(readFileSync(join(dir, version, file), 'utf8')) as unknown;
  const events = new Map<string, unknown>();
  for (const file of readdirSync(join(dir, version, 'events'))) events.set(file, read(`events/${file}`));
  return { version, openapi: read('openapi.json'), events };
}
