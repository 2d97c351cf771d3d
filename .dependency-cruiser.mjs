/**
 * The package boundaries `npm run lint` holds (ADR 0013), derived from the workspaces' package.json
 * files so that declaring an export or a dependency is all it takes to allow a new import:
 *
 * - a service imports no other service; platform, the domain packages (packages/) and contracts
 *   import no service at all. Only the host (the composition root) and the web UI (the sync client)
 *   import services, and only through their exports;
 * - an import from outside a workspace package lands on one of its public exports (package.json
 *   `exports`), never on a file behind them;
 * - each workspace package declares the packages it imports: other workspaces and npm packages
 *   alike (the npm ones are checked against the nearest package.json);
 * - product code does not import scripts/ (e2e tests take the local Dapr stack's helpers from
 *   scripts/stack).
 *
 * `boundaryConfig(root)` builds the rules for any checkout laid out like this one; the unit test
 * scripts/boundaries.unit.test.ts runs it over a throwaway tree with a cross-service import.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Workspaces under services/ that are not services: shared code, the composition root, the UI. */
const NOT_SERVICES = new Set(['services/platform', 'services/host', 'services/web']);

const literal = (s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The source file behind an export target: `./dist/x.js` is compiled from `src/x.ts`. */
function sourceOf(target) {
  const file = target.replace(/^\.\//, '');
  const compiled = /^dist\/(.+)\.js$/.exec(file);
  return compiled ? `src/${compiled[1]}.ts` : file;
}

/** Every file a package.json `exports` value can lead to (strings, condition objects, arrays). */
function exportTargets(value) {
  if (typeof value === 'string') return value.endsWith('.d.ts') ? [] : [value];
  if (Array.isArray(value)) return value.flatMap(exportTargets);
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

export function readWorkspaces(root) {
  const manifest = readJson(path.join(root, 'package.json'));
  return manifest.workspaces.map((dir) => {
    const pkg = readJson(path.join(root, dir, 'package.json'));
    const entries = new Set(exportTargets(pkg.exports ?? {}).map(sourceOf));
    const declared = new Set([
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.devDependencies ?? {}),
    ]);
    return { dir, name: pkg.name, entries: [...entries], declared };
  });
}

export function boundaryConfig(root) {
  const workspaces = readWorkspaces(root);
  const services = workspaces.filter((w) => w.dir.startsWith('services/') && !NOT_SERVICES.has(w.dir));
  const anyOf = (dirs) => `^(${dirs.map(literal).join('|')})/`;
  const serviceDirs = anyOf(services.map((w) => w.dir));
  const libraries = workspaces.filter((w) => w.dir === 'services/platform' || !w.dir.startsWith('services/'));

  const forbidden = [
    {
      name: 'service-imports-service',
      comment: 'Services talk through events and the Invoker port, never through each other’s code.',
      severity: 'error',
      from: { path: serviceDirs },
      to: { path: serviceDirs, pathNot: '^$1/' },
    },
    {
      name: 'library-imports-service',
      comment: 'Platform, contracts and the domain packages sit below every service.',
      severity: 'error',
      from: { path: anyOf(libraries.map((w) => w.dir)) },
      to: { path: serviceDirs },
    },
    ...workspaces.map((w) => ({
      name: 'not-a-public-export',
      comment: `Outside ${w.name}, import only what its package.json exports.`,
      severity: 'error',
      from: { pathNot: `^${literal(w.dir)}/` },
      to: {
        path: `^${literal(w.dir)}/`,
        pathNot: w.entries.length ? `^${literal(w.dir)}/(${w.entries.map(literal).join('|')})$` : undefined,
      },
    })),
    ...workspaces.flatMap((w) => {
      const undeclared = workspaces.filter((other) => other !== w && !w.declared.has(other.name));
      return undeclared.length === 0
        ? []
        : [
            {
              name: 'undeclared-workspace',
              comment: `${w.name} imports a workspace package its package.json does not declare.`,
              severity: 'error',
              from: { path: `^${literal(w.dir)}/` },
              to: { path: anyOf(undeclared.map((o) => o.dir)) },
            },
          ];
    }),
    {
      name: 'undeclared-npm-package',
      comment: 'Declare the npm packages a workspace imports in its own package.json.',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'product-imports-scripts',
      comment: 'scripts/ drives the product; only e2e tests take the local stack’s helpers from it.',
      severity: 'error',
      from: { path: anyOf(workspaces.map((w) => w.dir)), pathNot: '\\.e2e\\.test\\.ts$' },
      to: { path: '^scripts/' },
    },
    {
      name: 'e2e-imports-scripts-beyond-stack',
      severity: 'error',
      from: { path: '\\.e2e\\.test\\.ts$' },
      to: { path: '^scripts/', pathNot: '^scripts/stack/' },
    },
  ];

  return {
    forbidden: forbidden.map((rule) => ({
      ...rule,
      to: Object.fromEntries(Object.entries(rule.to).filter(([, v]) => v !== undefined)),
    })),
    options: {
      baseDir: root,
      doNotFollow: { path: 'node_modules' },
      // Build output and local state of this repository, but not node_modules: most packages
      // live under their dist/, and excluding them hid every import of such a package from the
      // undeclared-npm-package rule.
      exclude: {
        path: '^([.]data|[.]stack|test-artifacts|bench-results|contracts/dist)/|^(packages|services)/[^/]+/dist/',
      },
      // Type-only imports cross boundaries too.
      tsPreCompilationDeps: true,
      tsConfig: { fileName: path.join(root, 'tsconfig.json') },
      enhancedResolveOptions: {
        exportsFields: ['exports'],
        conditionNames: ['import', 'require', 'node', 'default', 'types'],
        extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts'],
        mainFields: ['module', 'main', 'types', 'typings'],
      },
      reporterOptions: { text: { highlightFocused: true } },
    },
  };
}

export default boundaryConfig(path.dirname(fileURLToPath(import.meta.url)));
