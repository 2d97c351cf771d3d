/**
 * OCI image archives without a registry or a daemon, for the local Kubernetes node
 * (scripts/k8s/k8s.sh loads them into containerd with `ctr images import`).
 *
 *   tsx scripts/k8s/images.ts services --tag <tag> [--out <dir>]
 *       the service images (one per app id), built as services/<app id>/Dockerfile describes them
 *       (serviceImageSpec below; images.unit.test.ts keeps the two from drifting)
 *   tsx scripts/k8s/images.ts infra --registry <r> --bin <dir> --dapr-bin <dir>
 *       --kubernetes <v> --coredns <v> --dapr <v>
 *       pause, CoreDNS and the Dapr control plane and daprd: one static binary each
 *
 * Prints the archive paths, one a line. An image is a tar of `oci-layout`, `index.json` and
 * `blobs/sha256/*`; layers are uncompressed tars written by GNU tar with fixed owners, times
 * and order, so an unchanged input gives the same digest. Layers that are slow to make (the
 * Node runtime, the production node_modules) are cached under
 * ${TASKSTREAM_CACHE:-~/.cache/taskstream}/k8s/images keyed by what they are made from.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppIds } from '@taskstream/contracts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = path.join(
  process.env.TASKSTREAM_CACHE ?? path.join(homedir(), '.cache/taskstream'),
  'k8s/images',
);

/** Every app id has an image. */
export const SERVICES = AppIds;

/** The workspaces whose package.json the Dockerfile's `manifests` stage copies. */
export const MANIFEST_WORKSPACES = [
  'contracts',
  'packages/recurrence',
  'packages/cli',
  'services/platform',
  'services/task-api',
  'services/recurring',
  'services/notification',
  'services/audit',
  'services/sync',
  'services/payments',
  'services/fraud',
  'services/host',
];

/**
 * What services/<app id>/Dockerfile (scripts/chart-check/Dockerfile.template) says the image is.
 * images.unit.test.ts reads the template and fails when the two differ.
 */
export function serviceImageSpec(service: string) {
  return {
    env: {
      NODE_ENV: 'production',
      TASKSTREAM_RUNTIME: 'dapr',
      APP_ID: service,
      HOST: '0.0.0.0',
      PORT: '8080',
    },
    workdir: '/app',
    user: '1000:1000',
    exposedPorts: ['8080'],
    entrypoint: ['node', `services/${service}/dist/main.js`],
    /** `npm` arguments of the production dependencies (the `deps` stage). */
    depsInstall: ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'],
    /** Workspaces copied whole (compiled code and data files). */
    workspaces: ['contracts', 'packages', 'services/platform', `services/${service}`],
    /** The web UI's static files go with task-api only. */
    webDist: service === 'task-api',
    /** Left out of the image (the build stage's `find ... -delete`). */
    deleted: ['*.ts', '*.tsbuildinfo', 'tsconfig*.json'],
    /** Not shipped: the package managers (the final stage's `rm -rf`). */
    withoutNpm: true,
  };
}

/** Left out of the build context by .dockerignore (besides what `deleted` drops). */
const CONTEXT_EXCLUDES = ['node_modules', 'test-support', '*.md', '*.tsbuildinfo'];

interface Layer {
  digest: string;
  size: number;
  file: string;
}

interface ImageConfig {
  Env: string[];
  Entrypoint: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

const sha256File = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

const TAR_FIXED = [
  '--sort=name',
  '--owner=0',
  '--group=0',
  '--numeric-owner',
  '--mtime=@0',
  '--format=posix',
  '--pax-option=delete=atime,delete=ctime',
];

/** A layer from `tar` arguments, cached by key when given. */
async function tarLayer(name: string, args: string[], key?: string): Promise<Layer> {
  mkdirSync(path.join(CACHE, 'layers'), { recursive: true });
  const file = path.join(CACHE, 'layers', key ? `${name}-${key}.tar` : `${name}.tar`);
  if (!key || !existsSync(file)) {
    const tmp = `${file}.tmp`;
    const run = spawnSync('tar', [...TAR_FIXED, '-cf', tmp, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (run.status !== 0) throw new Error(`tar for layer ${name} failed (${run.status})`);
    renameSync(tmp, file);
  }
  return { digest: `sha256:${await sha256File(file)}`, size: statSync(file).size, file };
}

/** A directory tree as a layer (its contents at the image's root). */
function dirLayer(name: string, dir: string, key?: string) {
  return tarLayer(name, ['-C', dir, '.'], key);
}

/** Writes an OCI archive holding the given images (their shared layers once). */
export function writeArchive(
  out: string,
  images: { name: string; layers: Layer[]; config: ImageConfig; user?: string }[],
) {
  const stage = `${out}.d`;
  rmSync(stage, { recursive: true, force: true });
  const blobs = path.join(stage, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (digest: string, from?: string, data?: string) => {
    const target = path.join(blobs, digest.slice('sha256:'.length));
    if (existsSync(target)) return;
    if (from) {
      try {
        linkSync(from, target);
      } catch {
        copyFileSync(from, target);
      }
    } else writeFileSync(target, data ?? '');
  };
  const manifests = images.map((image) => {
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: image.config,
      rootfs: { type: 'layers', diff_ids: image.layers.map((l) => l.digest) },
    });
    const configDigest = `sha256:${sha256(config)}`;
    put(configDigest, undefined, config);
    for (const l of image.layers) put(l.digest, l.file);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: Buffer.byteLength(config),
      },
      layers: image.layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: l.digest,
        size: l.size,
      })),
    });
    const manifestDigest = `sha256:${sha256(manifest)}`;
    put(manifestDigest, undefined, manifest);
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifestDigest,
      size: Buffer.byteLength(manifest),
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: {
        'io.containerd.image.name': image.name,
        'org.opencontainers.image.ref.name': image.name.slice(image.name.lastIndexOf(':') + 1),
      },
    };
  });
  writeFileSync(path.join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(stage, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
  );
  execFileSync('tar', ['-cf', `${out}.tmp`, '-C', stage, 'oci-layout', 'index.json', 'blobs']);
  renameSync(`${out}.tmp`, out);
  rmSync(stage, { recursive: true, force: true });
  return out;
}

/** A reference as containerd and the kubelet name it (Docker Hub is the default registry). */
export function normalizeReference(ref: string) {
  const first = ref.split('/')[0];
  const hasRegistry =
    ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return ref;
  return ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
}

const PASSWD =
  'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000::/home/node:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnode:x:1000:\nnonroot:x:65532:\n';

function baseDirs(root: string) {
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc/passwd'), PASSWD);
  writeFileSync(path.join(root, 'etc/group'), GROUP);
  mkdirSync(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
}

/** The Node runtime: this machine's node binary and the shared libraries `ldd` lists. */
async function nodeRuntimeLayer() {
  const node = realpathSync(process.execPath);
  const key = sha256(`${process.version}:${statSync(node).size}:${statSync(node).mtimeMs}`).slice(0, 16);
  const root = path.join(CACHE, `node-runtime-${key}`);
  if (!existsSync(path.join(root, '.complete'))) {
    rmSync(root, { recursive: true, force: true });
    baseDirs(root);
    mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
    copyFileSync(node, path.join(root, 'usr/local/bin/node'));
    const ldd = execFileSync('ldd', [node], { encoding: 'utf8' });
    for (const line of ldd.split('\n')) {
      // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
      const lib = line.match(/=>\s+(\/\S+)/)?.[1] ?? line.match(/^\s*(\/\S+)/)?.[1];
      if (!lib) continue;
      mkdirSync(path.join(root, path.dirname(lib)), { recursive: true });
      copyFileSync(realpathSync(lib), path.join(root, lib));
    }
    mkdirSync(path.join(root, 'app'), { recursive: true });
    writeFileSync(path.join(root, '.complete'), '');
  }
  return tarLayer('node-runtime', ['-C', root, '--exclude=./.complete', '.'], key);
}

/** The production node_modules, installed as the Dockerfile's `deps` stage does. */
async function depsLayer(spec: ReturnType<typeof serviceImageSpec>) {
  const manifests = [
    'package.json',
    'package-lock.json',
    '.npmrc',
    ...MANIFEST_WORKSPACES.map((w) => `${w}/package.json`),
  ];
  const key = sha256(
    manifests.map((m) => `${m}\n${readFileSync(path.join(REPO, m), 'utf8')}`).join('\n') +
      spec.depsInstall.join(' '),
  ).slice(0, 16);
  const dir = path.join(CACHE, `deps-${key}`);
  if (!existsSync(path.join(dir, '.complete'))) {
    rmSync(dir, { recursive: true, force: true });
    for (const m of manifests) {
      mkdirSync(path.dirname(path.join(dir, m)), { recursive: true });
      copyFileSync(path.join(REPO, m), path.join(dir, m));
    }
    const run = spawnSync('npm', spec.depsInstall, { cwd: dir, stdio: ['ignore', 2, 2] });
    if (run.status !== 0) throw new Error(`npm ${spec.depsInstall.join(' ')} failed in ${dir}`);
    writeFileSync(path.join(dir, '.complete'), '');
  }
  const nested = MANIFEST_WORKSPACES.map((w) => `${w}/node_modules`).filter((p) =>
    existsSync(path.join(dir, p)),
  );
  return tarLayer(
    'deps',
    ['-C', dir, '--transform', 's,^\\.\\?/\\?,app/,S', 'package.json', 'node_modules', ...nested],
    key,
  );
}

/** The service's compiled workspaces, as the Dockerfile's `build` stage leaves them in /out. */
async function appLayer(service: string, spec: ReturnType<typeof serviceImageSpec>) {
  for (const w of spec.workspaces) {
    if (
      w.startsWith('services/') &&
      !existsSync(path.join(REPO, w, 'dist/main.js')) &&
      w !== 'services/platform'
    )
      throw new Error(`${w}/dist/main.js is missing: run npm run build first`);
  }
  const paths = [...spec.workspaces];
  if (spec.webDist && existsSync(path.join(REPO, 'services/web/dist'))) paths.push('services/web/dist');
  const excludes = [...CONTEXT_EXCLUDES, ...spec.deleted].map((p) => `--exclude=${p}`);
  return tarLayer(`app-${service}`, ['-C', REPO, ...excludes, '--transform', 's,^,app/,S', ...paths]);
}

export async function buildServiceImages(tag: string, outDir: string, repository = 'taskstream') {
  const runtime = await nodeRuntimeLayer();
  const deps = await depsLayer(serviceImageSpec(SERVICES[0]));
  const images = [];
  for (const service of SERVICES) {
    const spec = serviceImageSpec(service);
    images.push({
      name: normalizeReference(`${repository}/${service}:${tag}`),
      layers: [runtime, deps, await appLayer(service, spec)],
      config: {
        Env: [
          'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          ...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        ],
        Entrypoint: spec.entrypoint,
        WorkingDir: spec.workdir,
        User: spec.user,
        ExposedPorts: Object.fromEntries(spec.exposedPorts.map((p) => [`${p}/tcp`, {}])),
      },
    });
  }
  mkdirSync(outDir, { recursive: true });
  return writeArchive(path.join(outDir, `services-${tag}.tar`), images);
}

/** One image per static binary: the binary at /<name>, a passwd with the non-root users. */
async function binaryImage(outDir: string, name: string, binary: string, ref: string, user?: string) {
  const st = statSync(binary);
  const key = sha256(`${ref}:${st.size}:${st.mtimeMs}`).slice(0, 16);
  const out = path.join(outDir, `${name}-${key}.tar`);
  if (existsSync(out)) return out;
  const root = path.join(CACHE, `rootfs-${name}`);
  rmSync(root, { recursive: true, force: true });
  baseDirs(root);
  copyFileSync(binary, path.join(root, name));
  const layer = await dirLayer(name, root, key);
  return writeArchive(out, [
    {
      name: normalizeReference(ref),
      layers: [layer],
      config: { Env: [], Entrypoint: [`/${name}`], User: user },
    },
  ]);
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      tag: { type: 'string' },
      out: { type: 'string' },
      registry: { type: 'string' },
      bin: { type: 'string' },
      'dapr-bin': { type: 'string' },
      kubernetes: { type: 'string' },
      coredns: { type: 'string' },
      dapr: { type: 'string' },
    },
  });
  const out = values.out ?? path.join(CACHE, 'archives');
  if (command === 'deps') {
    // The production node_modules, installed from the registry: run outside the node's network
    // namespace, which reaches no registry; the image builds inside it then find them cached.
    console.log(await depsLayer(serviceImageSpec(SERVICES[0])));
  } else if (command === 'services') {
    if (!values.tag) throw new Error('services needs --tag');
    console.log(await buildServiceImages(values.tag, out));
  } else if (command === 'infra') {
    const { registry, bin, kubernetes, coredns, dapr } = values;
    const daprBin = values['dapr-bin'];
    if (!registry || !bin || !daprBin || !kubernetes || !coredns || !dapr)
      throw new Error('infra: missing options');
    console.log(await binaryImage(out, 'pause', path.join(bin, 'pause'), `${registry}/pause:${kubernetes}`));
    console.log(
      await binaryImage(out, 'coredns', path.join(bin, 'coredns'), `${registry}/coredns:${coredns}`, '65532'),
    );
    for (const name of ['daprd', 'operator', 'injector', 'sentry', 'placement', 'scheduler'])
      console.log(
        await binaryImage(out, name, path.join(daprBin, name), `${registry}/${name}:${dapr}`, '65532'),
      );
  } else {
    console.error('usage: images.ts deps | services --tag <tag> | infra --registry ... (see the header)');
    process.exit(2);
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
