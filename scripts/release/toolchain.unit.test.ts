import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One Node line everywhere (docs/adr/0022-release-toolchain.md): .nvmrc names the exact version
 * CI runs (.ci/run fetches it, the workflows read it), `engines` starts at its major, the images
 * are built on the same major; and every install honours the lockfile (`npm ci`).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const nvmrc = read('.nvmrc').trim();
const major = nvmrc.split('.')[0];
const workflows = readdirSync(path.join(root, '.github/workflows')).map((f) => `.github/workflows/${f}`);
const installers = ['.ci/run', 'scripts/chart-check/Dockerfile.template', ...workflows];

test('.nvmrc names one exact version', () => {
  expect(nvmrc).toMatch(/^\d+\.\d+\.\d+$/);
});

test('engines start at that major, and npm only warns below it (the quick start still runs there)', () => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
  expect(pkg.engines.node).toBe(`>=${major}`);
  expect(read('.npmrc')).not.toMatch(/^\s*engine-strict\s*=\s*true/m);
});

test('the images are built on the same major', () => {
  expect(read('scripts/chart-check/Dockerfile.template')).toMatch(
    new RegExp(`^ARG NODE_IMAGE=node:${major}-[a-z-]+$`, 'm'),
  );
});

test('CI runs it: .ci/run puts it first on PATH, the workflows set it up from .nvmrc', () => {
  expect(read('.ci/run')).toMatch(/PATH="\$\(?(NODE_BIN|bash scripts\/release\/node\.sh)/);
  for (const file of workflows) {
    const text = read(file);
    expect({ file, versions: text.match(/node-version:.*/g) ?? [] }).toEqual({ file, versions: [] });
    for (const image of text.match(/container: node:\S+/g) ?? [])
      expect(image).toBe(`container: node:${major}-bookworm`);
  }
});

test('every install is `npm ci` from the lockfile', () => {
  for (const file of installers)
    expect({ file, installs: read(file).match(/npm install\b.*/g) ?? [] }).toEqual({ file, installs: [] });
});
