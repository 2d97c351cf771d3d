/**
 * The package boundaries `npm run lint` checks (.dependency-cruiser.mjs, ADR 0013), run as the lint
 * runs them — the dependency-cruiser CLI with the repository's rules — over a throwaway workspace
 * laid out like this one: clean, it passes; each kind of forbidden import makes it fail, naming
 * the rule.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const depcruise = path.join(repoRoot, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

let root: string;

function write(file: string, content: string | object) {
  const full = path.join(root, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
}

const entry = { '.': { types: './dist/index.d.ts', default: './dist/index.js' } };

function workspace(dir: string, name: string, dependencies: Record<string, string> = {}) {
  write(`${dir}/package.json`, { name, type: 'module', exports: entry, dependencies });
}

/** Runs the lint's boundary check over the throwaway workspace. */
function check(): { status: number | null; output: string } {
  const result = spawnSync(
    process.execPath,
    [depcruise, '--config', path.join(root, '.dependency-cruiser.mjs'), '--output-type', 'err', 'services'],
    { cwd: root, encoding: 'utf8' },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'taskstream-boundaries-'));
  write('package.json', {
    name: 'fixture',
    private: true,
    type: 'module',
    workspaces: ['services/platform', 'services/alpha', 'services/beta'],
  });
  write('tsconfig.json', {
    compilerOptions: {
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      baseUrl: '.',
      paths: { '@fixture/*': ['./services/*/src/index.ts'] },
    },
  });
  // The repository's own rules, pointed at this tree.
  write(
    '.dependency-cruiser.mjs',
    `import { boundaryConfig } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, '.dependency-cruiser.mjs')).href)};
export default boundaryConfig(${JSON.stringify(root)});
`,
  );
  workspace('services/platform', '@fixture/platform');
  write('services/platform/src/index.ts', "export { connect } from './db.js';\n");
  write('services/platform/src/db.ts', 'export const connect = () => 1;\n');
  workspace('services/alpha', '@fixture/alpha', { '@fixture/platform': '*' });
  write(
    'services/alpha/src/index.ts',
    "import { connect } from '@fixture/platform';\nimport { helper } from './helper.js';\nexport const alpha = () => connect() + helper();\n",
  );
  write('services/alpha/src/helper.ts', 'export const helper = () => 2;\n');
  workspace('services/beta', '@fixture/beta', { '@fixture/platform': '*' });
  write(
    'services/beta/src/index.ts',
    "import { connect } from '@fixture/platform';\nexport const beta = connect;\n",
  );
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

test('a workspace that keeps its boundaries passes', () => {
  const { status, output } = check();
  expect(output).toContain('no dependency violations');
  expect(status).toBe(0);
});

test('a service importing another service fails, even when declared and through its entry', () => {
  workspace('services/beta', '@fixture/beta', { '@fixture/platform': '*', '@fixture/alpha': '*' });
  write(
    'services/beta/src/index.ts',
    "import { alpha } from '@fixture/alpha';\nexport const beta = alpha;\n",
  );
  const { status, output } = check();
  expect(output).toMatch(
    /service-imports-service: services\/beta\/src\/index\.ts → services\/alpha\/src\/index\.ts/,
  );
  expect(status).not.toBe(0);
});

test('a file behind another package’s exports fails, by relative path too', () => {
  write(
    'services/beta/src/index.ts',
    "import { connect } from '../../platform/src/db.js';\nexport const beta = connect;\n",
  );
  const { status, output } = check();
  expect(output).toMatch(
    /not-a-public-export: services\/beta\/src\/index\.ts → services\/platform\/src\/db\.ts/,
  );
  expect(status).not.toBe(0);
});

test('a workspace package the importer does not declare fails', () => {
  workspace('services/beta', '@fixture/beta');
  const { status, output } = check();
  expect(output).toMatch(/undeclared-workspace: services\/beta\/src\/index\.ts → services\/platform/);
  expect(status).not.toBe(0);
});

test('an npm package a workspace imports but only the root declares fails, also one that lives in dist/', () => {
  write('node_modules/distpkg/package.json', { name: 'distpkg', type: 'module', main: './dist/index.js' });
  write('node_modules/distpkg/dist/index.js', 'export const x = 1;\n');
  write('package.json', {
    name: 'fixture',
    private: true,
    type: 'module',
    workspaces: ['services/platform', 'services/alpha', 'services/beta'],
    devDependencies: { distpkg: '1.0.0' },
  });
  write('services/beta/src/index.ts', "import { x } from 'distpkg';\nexport const beta = x;\n");
  const { status, output } = check();
  expect(output).toMatch(
    /undeclared-npm-package: services\/beta\/src\/index\.ts → node_modules\/distpkg\/dist\/index\.js/,
  );
  expect(status).not.toBe(0);
});
