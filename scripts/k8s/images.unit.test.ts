import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  MANIFEST_WORKSPACES,
  normalizeReference,
  SERVICES,
  serviceImageSpec,
  writeArchive,
} from './images.js';

/**
 * The local node's images (scripts/k8s/images.ts) are built without Docker from what the
 * services' Dockerfile says; these tests read scripts/chart-check/Dockerfile.template (which
 * every services/<id>/Dockerfile is, chart-check makes sure) and fail when the two drift.
 */
const template = readFileSync(path.resolve('scripts/chart-check/Dockerfile.template'), 'utf8');

/** The Dockerfile of one service, its continuation lines joined, split into stages by FROM. */
function stages(service: string) {
  const text = template.replaceAll('@SERVICE@', service).replace(/\\\n\s*/g, ' ');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const result: { from: string; lines: string[] }[] = [];
  for (const line of lines) {
    if (line.startsWith('FROM ')) result.push({ from: line, lines: [] });
    else result.at(-1)?.lines.push(line);
  }
  return result;
}

/** The build argument `${SERVICE}` as the Dockerfile writes it. */
const SERVICE_ARG = /\$\{SERVICE\}/g;

const instruction = (lines: string[], name: string) =>
  lines.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

describe.each(SERVICES)('the %s image follows its Dockerfile', (service) => {
  const all = stages(service);
  const final = all.at(-1)!;
  const byName = (name: string) => all.find((s) => s.from.endsWith(` AS ${name}`))!;
  const spec = serviceImageSpec(service);

  test('the final stage: environment, working directory, user, port, entrypoint', () => {
    const env: Record<string, string> = {};
    for (const line of instruction(final.lines, 'ENV')) {
      for (const [, key, value] of line.matchAll(/(\w+)=(\S+)/g))
        env[key] = value.replace(SERVICE_ARG, service);
    }
    expect(env).toEqual(spec.env);
    expect(instruction(final.lines, 'WORKDIR')).toEqual([spec.workdir]);
    expect(instruction(final.lines, 'USER')).toEqual([spec.user]);
    expect(instruction(final.lines, 'EXPOSE')).toEqual(spec.exposedPorts);
    expect(instruction(final.lines, 'ENTRYPOINT').map((e) => JSON.parse(e))).toEqual([spec.entrypoint]);
    // Non-root: a numeric uid other than 0.
    expect(spec.user).toMatch(/^[1-9]\d*:\d+$/);
  });

  test('production dependencies only, installed as the deps stage does', () => {
    const run = instruction(byName('deps').lines, 'RUN').join(' ');
    const args = (/\snpm ((?:ci|install) .*)$/.exec(run)?.[1] ?? '').trim().split(/\s+/);
    expect(args).toEqual(spec.depsInstall);
    expect(args).toContain('--omit=dev');
  });

  test('the same workspaces, web UI files and deletions as the build stage', () => {
    const run = instruction(byName('build').lines, 'RUN').join('\n');
    const loop = /for dir in ([^;]+); do/.exec(run)?.[1] ?? '';
    expect(loop.split(/\s+/).map((d) => d.replaceAll('"', '').replace(SERVICE_ARG, service))).toEqual(
      spec.workspaces,
    );
    expect(run.replace(SERVICE_ARG, service)).toContain(`[ "${service}" = task-api ]`);
    expect(spec.webDist).toBe(service === 'task-api');
    const deleted = [...run.matchAll(/-name '([^']+)'/g)].map((m) => m[1]);
    expect(deleted).toEqual(spec.deleted);
  });

  test('the manifests stage copies the package.json files the deps layer installs from', () => {
    const copies = instruction(byName('manifests').lines, 'COPY')
      .map((c) => c.split(/\s+/)[0])
      .filter((f) => f.endsWith('/package.json'))
      .map((f) => f.slice(0, -'/package.json'.length));
    expect(copies).toEqual(MANIFEST_WORKSPACES);
  });

  test('npm and npx are not shipped', () => {
    const run = instruction(final.lines, 'RUN').join(' ');
    expect(run).toMatch(/rm -rf .*\/usr\/local\/lib\/node_modules\/npm/);
    expect(spec.withoutNpm).toBe(true);
  });
});

describe('OCI archive', () => {
  test('writeArchive lays out oci-layout, index.json naming the image, and content-addressed blobs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'oci-'));
    writeFileSync(path.join(dir, 'hello'), 'hi\n');
    execFileSync('tar', ['-cf', path.join(dir, 'layer.tar'), '-C', dir, 'hello']);
    const { createHash } = await import('node:crypto');
    const layerBytes = readFileSync(path.join(dir, 'layer.tar'));
    const digest = `sha256:${createHash('sha256').update(layerBytes).digest('hex')}`;
    const out = writeArchive(path.join(dir, 'image.tar'), [
      {
        name: 'docker.io/taskstream/x:1',
        layers: [{ digest, size: layerBytes.length, file: path.join(dir, 'layer.tar') }],
        config: { Env: [], Entrypoint: ['/x'], User: '1000:1000' },
      },
    ]);
    const list = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n');
    expect(list).toEqual(
      expect.arrayContaining(['oci-layout', 'index.json', `blobs/sha256/${digest.slice(7)}`]),
    );
    const index = JSON.parse(execFileSync('tar', ['-xOf', out, 'index.json'], { encoding: 'utf8' }));
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe('docker.io/taskstream/x:1');
    // Every blob's name is its content's digest.
    const manifestHex = index.manifests[0].digest.slice(7);
    const manifest = execFileSync('tar', ['-xOf', out, `blobs/sha256/${manifestHex}`]);
    expect(createHash('sha256').update(manifest).digest('hex')).toBe(manifestHex);
    const config = JSON.parse(
      execFileSync(
        'tar',
        ['-xOf', out, `blobs/sha256/${JSON.parse(String(manifest)).config.digest.slice(7)}`],
        {
          encoding: 'utf8',
        },
      ),
    );
    expect(config.rootfs.diff_ids).toEqual([digest]);
    expect(config.config.User).toBe('1000:1000');
  });

  test('references are named as the kubelet asks containerd for them', () => {
    expect(normalizeReference('taskstream/task-api:dev')).toBe('docker.io/taskstream/task-api:dev');
    expect(normalizeReference('local.test/daprd:1.18.2')).toBe('local.test/daprd:1.18.2');
    expect(normalizeReference('busybox:1')).toBe('docker.io/library/busybox:1');
  });
});
