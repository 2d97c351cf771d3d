/**
 * The chart, rendered with every values file by the cached helm (built by tools.sh when missing:
 * a few minutes the first time), holds what the deployment spec promises for every service.
 * Schema validation of the same renders is run.sh's job (kubeconform); this test checks meaning.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppIds } from '@taskstream/contracts';
import { DEFAULT_PUSH_HOSTS } from '@taskstream/notification';
import { ConfigSchema, createMetrics } from '@taskstream/platform';
import { parse } from 'yaml';
import { chartDir, helmPath, type Rendered, releaseName, renderChart, repoRoot } from './helm.js';
import { renderSchemaFile, schemaPath } from './values-schema.js';

const APP_IDS: string[] = [...AppIds].sort();
/** monitoring.metricsPort's default, which no values file changes. */
const METRICS_PORT = 9464;
const valuesFiles = [
  ...readdirSync(chartDir).filter((f) => /^values-.+\.yaml$/.test(f)),
  ...readdirSync(join(chartDir, 'ci')).map((f) => `ci/${f}`),
];

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked field by field
type Obj = any;

let helm = '';
const renders = new Map<string, Rendered[]>();

beforeAll(
  () => {
    helm = helmPath();
    for (const file of valuesFiles) renders.set(file, renderChart(['-f', join(chartDir, file)], helm));
  },
  15 * 60 * 1000,
);

const objects = (file: string, kind: string): Obj[] =>
  (renders.get(file) ?? []).filter((r) => r.object.kind === kind).map((r) => r.object);

/** The services' workloads: Deployments, and the StatefulSet of a broadcast service (sync). */
const workloads = (file: string): Obj[] =>
  [...objects(file, 'Deployment'), ...objects(file, 'StatefulSet')].filter((w) =>
    APP_IDS.includes(w.metadata.labels['app.kubernetes.io/component']),
  );

test('there are values files to render', () => {
  expect(valuesFiles).toEqual(
    expect.arrayContaining(['values-minikube.yaml', 'values-aks.yaml', 'values-gke.yaml', 'values-oke.yaml']),
  );
});

describe.each(valuesFiles)('%s', (file) => {
  test('one workload per service: a Deployment each, a StatefulSet for sync', () => {
    const ids = workloads(file).map((d) => d.metadata.labels['app.kubernetes.io/component']);
    expect(
      objects(file, 'StatefulSet').map((w) => w.metadata.labels['app.kubernetes.io/component']),
    ).toContain('sync');
    expect(ids.sort()).toEqual(APP_IDS);
  });

  test('every Deployment: non-root, read-only root filesystem, no capabilities, resources, probes', () => {
    for (const d of workloads(file)) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.containers).toHaveLength(1);
      for (const c of pod.containers) {
        const where = `${d.metadata.name}/${c.name}`;
        expect({ where, ...c.securityContext }).toMatchObject({
          where,
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        for (const kind of ['requests', 'limits']) {
          expect(c.resources[kind]).toEqual(
            expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
          );
        }
        expect(c.ports).toEqual([
          { name: 'http', containerPort: 8080, protocol: 'TCP' },
          { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
        ]);
        // The app serves /metrics on that port alone (production answers 404 for it on PORT).
        expect(c.env).toContainEqual({ name: 'METRICS_PORT', value: String(METRICS_PORT) });
        expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
        expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
        expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
        expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      }
    }
  });

  test('every Deployment: Dapr sidecar annotations', () => {
    const configs = objects(file, 'Configuration').map((c) => c.metadata.name);
    for (const d of workloads(file)) {
      const id = d.metadata.labels['app.kubernetes.io/component'];
      const a = d.spec.template.metadata.annotations;
      expect(a).toMatchObject({
        'dapr.io/enabled': 'true',
        'dapr.io/app-id': id,
        'dapr.io/app-port': '8080',
        'dapr.io/app-protocol': 'http',
        'dapr.io/enable-metrics': 'true',
        'dapr.io/disable-builtin-k8s-secret-store': 'true',
      });
      expect(configs).toContain(a['dapr.io/config']);
      expect(a['dapr.io/log-level']).toMatch(/^(debug|info|warn|error)$/);
      for (const key of ['api-token-secret', 'app-token-secret'])
        expect(a[`dapr.io/${key}`]).toMatch(/^[a-z0-9-]+$/);
      for (const key of ['cpu-request', 'memory-request', 'cpu-limit', 'memory-limit']) {
        expect(a[`dapr.io/sidecar-${key}`]).toBeTruthy();
      }
    }
  });

  test('every container env name is one of services/platform/src/config.ts', () => {
    const known = Object.keys(ConfigSchema.shape);
    const containers = [
      ...workloads(file).flatMap((d) => d.spec.template.spec.containers),
      ...objects(file, 'Job').flatMap((j) => j.spec.template.spec.containers),
    ];
    for (const c of containers) {
      for (const e of c.env)
        expect({ container: c.name, env: e.name, known: known.includes(e.name) }).toMatchObject({
          known: true,
        });
      const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e]));
      expect(env.TASKSTREAM_RUNTIME.value).toBe('dapr');
      expect(env.PORT.value).toBe('8080');
      expect(env.DATABASE_URL.valueFrom.secretKeyRef.name).toBeTruthy();
    }
    for (const d of workloads(file)) {
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e]));
      expect(env.APP_ID.value).toBe(d.metadata.labels['app.kubernetes.io/component']);
      expect(env.DAPR_API_TOKEN.valueFrom.secretKeyRef.name).toBe(
        d.spec.template.metadata.annotations['dapr.io/api-token-secret'],
      );
      expect(env.APP_API_TOKEN.valueFrom.secretKeyRef.name).toBe(
        d.spec.template.metadata.annotations['dapr.io/app-token-secret'],
      );
    }
  });

  test('sync subscribes through the broadcast pub/sub (a consumer group per stable pod name), the others share one group per app', () => {
    const components = objects(file, 'Component');
    const meta = (name: string) =>
      Object.fromEntries(
        components.find((c) => c.metadata.name === name).spec.metadata.map((m: Obj) => [m.name, m.value]),
      );
    expect(meta('pubsub').consumerGroup).toBe('{appID}');
    expect(meta('pubsub-broadcast')).toMatchObject({ consumerGroup: '{podName}', initialOffset: 'newest' });
    expect(meta('pubsub-broadcast').brokers).toBe(meta('pubsub').brokers);
    expect(components.find((c) => c.metadata.name === 'pubsub-broadcast').scopes).toEqual(['sync']);
    for (const w of workloads(file)) {
      const id = w.metadata.labels['app.kubernetes.io/component'];
      const env = Object.fromEntries(w.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e]));
      expect({ id, pubsub: env.PUBSUB_NAME.value }).toEqual({
        id,
        pubsub: id === 'sync' ? 'pubsub-broadcast' : 'pubsub',
      });
      if (id === 'sync') {
        expect(w.kind).toBe('StatefulSet');
        expect(env.SYNC_REPLICA_ID.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
      }
    }
    const resiliency = objects(file, 'Resiliency')[0];
    expect(Object.keys(resiliency.spec.targets.components)).toEqual(
      expect.arrayContaining(['pubsub', 'pubsub-broadcast']),
    );
  });

  test('Dapr components are scoped to the app ids; state store is postgresql v2', () => {
    const components = objects(file, 'Component');
    expect(components.map((c) => c.metadata.name).sort()).toEqual([
      'pubsub',
      'pubsub-broadcast',
      'statestore',
    ]);
    for (const c of [...components, ...objects(file, 'Resiliency')]) {
      expect(c.scopes.length).toBeGreaterThan(0);
      for (const s of c.scopes) expect(APP_IDS).toContain(s);
    }
    const state = components.find((c) => c.metadata.name === 'statestore');
    expect(state.spec).toMatchObject({ type: 'state.postgresql', version: 'v2' });
    const conn = state.spec.metadata.find((m: Obj) => m.name === 'connectionString');
    expect(conn.secretKeyRef).toBeDefined();
    expect(conn.value).toBeUndefined();
  });

  test('production defaults: no demo users, and the Ingress never routes the metrics port', () => {
    for (const c of workloads(file).flatMap((d) => d.spec.template.spec.containers)) {
      const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));
      expect({ container: c.name, NODE_ENV: env.NODE_ENV }).toEqual({
        container: c.name,
        NODE_ENV: 'production',
      });
      expect({ container: c.name, SEED_DEMO_USERS: env.SEED_DEMO_USERS ?? 'false' }).toEqual({
        container: c.name,
        SEED_DEMO_USERS: 'false',
      });
    }
    // Web Push only to the push services the code knows as the production default, never loopback.
    for (const d of workloads(file)) {
      const env = Object.fromEntries(
        d.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e.value]),
      );
      expect(env.PUSH_ALLOW_LOOPBACK).toBeUndefined();
      if (d.metadata.labels['app.kubernetes.io/component'] === 'notification')
        expect(env.PUSH_ALLOWED_HOSTS.split(',')).toEqual(DEFAULT_PUSH_HOSTS);
    }
    for (const ing of objects(file, 'Ingress'))
      for (const p of ing.spec.rules[0].http.paths) expect(p.backend.service.port).toEqual({ name: 'http' });
    for (const s of objects(file, 'Service').filter((s) =>
      APP_IDS.includes(s.metadata.labels['app.kubernetes.io/component']),
    ))
      expect(s.spec.ports).toContainEqual({
        name: 'metrics',
        port: METRICS_PORT,
        targetPort: 'metrics',
        protocol: 'TCP',
      });
  });

  test('Ingress routes each path to its service', () => {
    const ingresses = objects(file, 'Ingress');
    if (ingresses.length === 0) return;
    // Sync takes sockets only from the pages the Ingress serves (ADR 0007).
    for (const d of workloads(file).filter(
      (w) => w.metadata.labels['app.kubernetes.io/component'] === 'sync',
    )) {
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: Obj) => [e.name, e]));
      expect(env.SYNC_ALLOWED_ORIGINS.value).toBe(env.PUBLIC_URL.value);
    }
    const routes: Record<string, string> = {};
    for (const ing of ingresses) {
      for (const p of ing.spec.rules[0].http.paths) {
        routes[p.path] = p.backend.service.name.replace(/^.*-taskstream-|^taskstream-/, '');
      }
    }
    expect(routes).toEqual({
      '/': 'task-api',
      '/api': 'task-api',
      '/api/sync': 'sync',
      '/ws/tasks': 'sync',
      '/api/sync/stream': 'sync',
      '/api/notifications': 'notification',
      '/api/push': 'notification',
      '/api/preferences': 'notification',
      '/api/mailbox': 'notification',
      '/api/audit-logs': 'audit',
      '/api/recurrence': 'recurring',
      '/api/wallets': 'payments',
      '/api/transactions': 'payments',
      '/ws/transactions': 'payments',
      '/api/transactions/stream': 'payments',
    });
  });

  test('the migrations Job is a pre-install/pre-upgrade hook running `migrate` for each service', () => {
    const jobs = objects(file, 'Job');
    if (file === 'values-minikube.yaml') {
      expect(jobs).toHaveLength(0);
      return;
    }
    expect(jobs).toHaveLength(1);
    const job = jobs[0];
    expect(job.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const containers = job.spec.template.spec.containers;
    expect(containers.map((c: Obj) => c.name).sort()).toEqual(APP_IDS.map((id) => `migrate-${id}`));
    for (const c of containers) {
      expect(c.args).toEqual(['migrate']);
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
      expect(c.env.map((e: Obj) => e.name)).not.toContain('DAPR_API_TOKEN');
    }
    for (const d of workloads(file)) {
      const env = d.spec.template.spec.containers[0].env;
      expect(env).toContainEqual({ name: 'MIGRATE_ON_START', value: 'false' });
    }
  });
});

test('the cloud values use SASL/SCRAM over TLS with credentials from a Secret', () => {
  for (const [file, name] of ['values-aks.yaml', 'values-gke.yaml', 'values-oke.yaml'].flatMap((f) => [
    [f, 'pubsub'],
    [f, 'pubsub-broadcast'],
  ])) {
    const pubsub = objects(file!, 'Component').find((c) => c.metadata.name === name);
    const meta = Object.fromEntries(pubsub.spec.metadata.map((m: Obj) => [m.name, m]));
    expect(meta.authType.value).toBe('password');
    expect(meta.saslMechanism.value).toMatch(/^SHA-(256|512)$/);
    expect(meta.disableTls.value).toBe('false');
    expect(meta.saslUsername.secretKeyRef.name).toBeTruthy();
    expect(meta.saslPassword.secretKeyRef.name).toBeTruthy();
    expect(pubsub.auth).toEqual({ secretStore: 'kubernetes' });
  }
});

test('Minikube runs Redpanda and PostgreSQL in the cluster and pub/sub talks to that Redpanda', () => {
  const sets = objects('values-minikube.yaml', 'StatefulSet').map(
    (s) => s.metadata.labels['app.kubernetes.io/component'],
  );
  expect(sets.sort()).toEqual(['postgresql', 'redpanda', 'sync']);
  const pubsub = objects('values-minikube.yaml', 'Component').find((c) => c.metadata.name === 'pubsub');
  expect(pubsub.spec.metadata).toContainEqual({ name: 'brokers', value: 'taskstream-redpanda:9092' });
});

test('values.yaml alone refuses to render, naming the missing Secret', () => {
  let message = '';
  try {
    execFileSync(helm, ['template', 'taskstream', chartDir], { stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    message = String((err as { stderr?: string }).stderr);
  }
  expect(message).toContain('secrets.existingSecret is required');
});

/**
 * The `taskstream_` series the services export: each `metrics.counter|gauge|histogram('<name>'`
 * call in services/{name}/src (tests left out; a histogram also as its _bucket, _sum and _count
 * series), and prom-client's default process and Node.js metrics, which createMetrics registers
 * under the same prefix. Read from the source rather than listed here, so a renamed series fails
 * the dashboards and alerts that still query the old name.
 */
async function exportedMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  const add = (name: string, type: string) => {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  };
  const servicesDir = join(repoRoot, 'services');
  for (const service of readdirSync(servicesDir)) {
    const src = join(servicesDir, service, 'src');
    let files: string[];
    try {
      files = readdirSync(src, { recursive: true, encoding: 'utf8' });
    } catch {
      continue;
    }
    for (const file of files.filter((f) => /\.ts$/.test(f) && !/\.test\.ts$|test-support/.test(f))) {
      const text = readFileSync(join(src, file), 'utf8');
      for (const m of text.matchAll(/\.(counter|gauge|histogram)\(\s*'([a-z][a-z0-9_]*)'/g))
        add(`taskstream_${m[2]}`, m[1]!);
    }
  }
  for (const m of await createMetrics().registry.getMetricsAsJSON()) add(m.name, String(m.type));
  return names;
}

const queried = (text: string): string[] => [...new Set(text.match(/\btaskstream_[a-z0-9_]+/g) ?? [])];

describe('monitoring (ci/all-features-values.yaml)', () => {
  const file = 'ci/all-features-values.yaml';
  const dashboards = () => objects(file, 'ConfigMap').filter((c) => /-dashboard-/.test(c.metadata.name));

  test('renders the ServiceMonitor, the PrometheusRule and the dashboards', () => {
    expect(objects(file, 'ServiceMonitor')).toHaveLength(1);
    expect(objects(file, 'PrometheusRule')).toHaveLength(1);
    expect(dashboards().length).toBeGreaterThan(0);
  });

  test("the ServiceMonitor scrapes /metrics on every service's metrics port, and nothing else", () => {
    const monitor = objects(file, 'ServiceMonitor')[0];
    const selected = objects(file, 'Service').filter(
      (s) =>
        Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels[k] === v) &&
        monitor.spec.selector.matchExpressions.every(
          (e: Obj) => e.operator === 'In' && e.values.includes(s.metadata.labels[e.key]),
        ),
    );
    expect(selected.map((s) => s.metadata.labels['app.kubernetes.io/component']).sort()).toEqual(APP_IDS);
    expect(monitor.spec.endpoints.map((e: Obj) => e.port)).toEqual(['metrics']);
    for (const endpoint of monitor.spec.endpoints) {
      expect(endpoint.path).toBe('/metrics');
      for (const s of selected) expect(s.spec.ports.map((p: Obj) => p.name)).toContain(endpoint.port);
    }
  });

  test('every metric the alerts and the dashboards query is one the services export', async () => {
    const exported = await exportedMetrics();
    const sources: [string, string][] = [
      ...objects(file, 'PrometheusRule').flatMap((r) =>
        r.spec.groups.flatMap((g: Obj) =>
          g.rules.map((rule: Obj): [string, string] => [rule.alert, rule.expr]),
        ),
      ),
      ...dashboards().flatMap((c) => Object.entries(c.data as Record<string, string>)),
    ];
    const references = sources.flatMap(([where, text]) => queried(text).map((metric) => ({ where, metric })));
    // Alerts and dashboards both query something (a broken scan must not pass vacuously).
    expect(new Set(references.map((r) => r.where)).size).toBeGreaterThanOrEqual(5);
    expect(references.filter((r) => !exported.has(r.metric))).toEqual([]);
  });
});

const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as {
  appVersion: string;
  home: string;
  sources: string[];
  icon: string;
  maintainers: { name: string; url?: string; email?: string }[];
};

/** What helm printed when it refused (lint reports on stdout, install on stderr); '' when it succeeded. */
function refusal(args: string[]): string {
  try {
    execFileSync(helm, args, { stdio: 'pipe', encoding: 'utf8', maxBuffer: 64 << 20 });
    return '';
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    return `${stdout ?? ''}${stderr ?? ''}`;
  }
}

describe('values.schema.json', () => {
  test('is what scripts/chart-check/values-schema.ts generates (npx tsx scripts/chart-check/values-schema.ts --write)', () => {
    expect(readFileSync(schemaPath, 'utf8')).toBe(renderSchemaFile());
  });

  test("scripts/k8s's overlay on values-minikube.yaml passes it", () => {
    const overlay = join(repoRoot, 'scripts/k8s/values-local-node.yaml');
    const minikube = join(chartDir, 'values-minikube.yaml');
    expect(refusal(['lint', '--strict', chartDir, '-f', minikube, '-f', overlay])).toBe('');
  });

  // Each a mistake someone could make in a values file; helm must refuse before rendering anything.
  const typos: [string, string, RegExp][] = [
    ['a misspelt key', 'serviceDefaults:\n  replica: 3\n', /replica/],
    ['a misspelt service', 'services:\n  taskapi:\n    replicas: 1\n', /taskapi/],
    ['a wrong type', 'services:\n  sync:\n    replicas: two\n', /replicas/],
    ['a misspelt environment variable', 'env:\n  LOG_LEVL: debug\n', /LOG_LEVL/],
    ['a boolean as a string', 'ingress:\n  enabled: "yes"\n', /enabled/],
    ['an unknown pull policy', 'global:\n  image:\n    pullPolicy: Sometimes\n', /pullPolicy/],
    [
      'a scheme in the OTLP address',
      'dapr:\n  tracing:\n    otlpEndpoint: http://collector:4317\n',
      /otlpEndpoint/,
    ],
  ];
  test.each(typos)('refuses %s at install and lint', (_what, yaml, names) => {
    const dir = mkdtempSync(join(tmpdir(), 'values-typo-'));
    try {
      const file = join(dir, 'typo.yaml');
      writeFileSync(file, yaml);
      const base = ['-f', join(chartDir, 'values-minikube.yaml'), '-f', file];
      const install = refusal(['install', releaseName, chartDir, '--dry-run=client', ...base]);
      expect(install).toMatch(/values don't meet the specifications of the schema/);
      expect(install).toMatch(names);
      expect(refusal(['lint', '--strict', chartDir, ...base])).toMatch(names);
      // The same file without the mistake installs: the schema, not something else, refused it.
      expect(refusal(['install', releaseName, chartDir, '--dry-run=client', base[0]!, base[1]!])).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Chart.yaml and NOTES.txt need no checkout of the repository', () => {
  test('home, sources, maintainers and an icon URL', () => {
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.sources.length).toBeGreaterThan(0);
    for (const s of chart.sources) expect(s).toMatch(/^https:\/\//);
    expect(chart.maintainers[0]?.name).toBeTruthy();
    expect(chart.icon).toMatch(/^https:\/\/.+\.svg$/);
    // The icon the URL serves is the one in the chart.
    expect(chart.icon.endsWith('/helm/taskstream/icon.svg')).toBe(true);
    expect(readFileSync(join(chartDir, 'icon.svg'), 'utf8')).toContain('<svg');
  });

  test.each(valuesFiles)(
    'NOTES.txt with %s: no npm, no repository paths; the admin CLI through kubectl exec',
    (file) => {
      const out = execFileSync(
        helm,
        [
          'install',
          releaseName,
          chartDir,
          '--dry-run=client',
          '--namespace',
          'taskstream',
          '-f',
          join(chartDir, file),
        ],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      const notes = out.slice(out.indexOf('NOTES:'));
      expect(notes.length).toBeGreaterThan(100);
      // Links (the runbooks) are fine; a path into a checkout or an npm script is not.
      const text = notes.replace(/https?:\/\/\S+/g, '<url>');
      expect(text).not.toMatch(/\bnpm\b|\bnpx\b|\btsx\b|\bscripts\/|helm\/taskstream|docs\/|\.ts\b/);
      expect(notes).toContain(
        'kubectl -n taskstream exec -it deploy/taskstream-task-api -c task-api -- taskstream login --email',
      );
      expect(notes).toContain('helm test taskstream -n taskstream');
    },
  );
});

describe('helm test', () => {
  test.each(valuesFiles)(
    '%s: one Pod checks readiness, the API and a WebSocket through the Services',
    (file) => {
      const pods = objects(file, 'Pod').filter((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test');
      expect(pods).toHaveLength(1);
      const pod = pods[0];
      expect(pod.metadata.labels['app.kubernetes.io/component']).toBe('helm-test');
      const [container] = pod.spec.containers;
      // The script of files/helm-test.mjs (int-tested against the real services), run by the image's node.
      expect(container.command.slice(0, 3)).toEqual(['node', '--input-type=module', '-e']);
      expect(container.command[3]).toContain(
        readFileSync(join(chartDir, 'files/helm-test.mjs'), 'utf8').trim(),
      );
      const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e]));
      const services = objects(file, 'Service').map((s) => s.metadata.name);
      const host = (url: string) => new URL(url).hostname.split('.')[0];
      expect(host(env.API_URL.value)).toBe('taskstream-task-api');
      expect(host(env.WS_URL.value)).toBe('taskstream-sync');
      expect(new URL(env.WS_URL.value).pathname).toBe('/ws/tasks');
      for (const url of env.READYZ_URLS.value.split(' ')) expect(services).toContain(host(url));
      expect(env.READYZ_URLS.value.split(' ')).toHaveLength(APP_IDS.length);
      expect(env.JWT_SECRET.valueFrom.secretKeyRef).toMatchObject({ key: 'JWT_SECRET', optional: true });
      expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    },
  );
});

describe('images', () => {
  const image = (file: string, args: string[] = []) =>
    Object.fromEntries(
      renderChart(['-f', join(chartDir, file), ...args], helm)
        .filter((r) => ['Deployment', 'StatefulSet'].includes(r.object.kind))
        .map((r) => r.object as Obj)
        .filter((w) => APP_IDS.includes(w.metadata.labels['app.kubernetes.io/component']))
        .map((w) => [
          w.metadata.labels['app.kubernetes.io/component'],
          w.spec.template.spec.containers[0].image,
        ]),
    );

  test("are <registry>/taskstream/<service>:<version>, the version the chart's appVersion", () => {
    expect(image('values-aks.yaml')).toEqual(
      Object.fromEntries(
        APP_IDS.map((id) => [id, `taskstream.azurecr.io/taskstream/${id}:${chart.appVersion}`]),
      ),
    );
    expect(
      image('values-aks.yaml', [
        '--set',
        'global.image.registry=ghcr.io/acme',
        '--set',
        'global.image.tag=1.2.3',
      ]),
    ).toEqual(Object.fromEntries(APP_IDS.map((id) => [id, `ghcr.io/acme/taskstream/${id}:1.2.3`])));
    // No registry: the name the local clusters load the images under (scripts/k8s/images.ts, minikube image build).
    expect(image('values-minikube.yaml')).toEqual(
      Object.fromEntries(APP_IDS.map((id) => [id, `taskstream/${id}:dev`])),
    );
  });
});

describe('the services export their own traces where the sidecars export theirs', () => {
  const otlp = (file: string, args: string[] = []) =>
    renderChart(['-f', join(chartDir, file), ...args], helm)
      .filter((r) => ['Deployment', 'StatefulSet'].includes(r.object.kind))
      .map((r) => r.object as Obj)
      .filter((w) => APP_IDS.includes(w.metadata.labels['app.kubernetes.io/component']))
      .map((w) => {
        const env = w.spec.template.spec.containers[0].env as Obj[];
        return env.filter((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT').map((e) => e.value);
      });

  test.each([
    ['values-minikube.yaml', [], []],
    // The sidecars speak gRPC to 4317; the app's exporter is OTLP/HTTP, the collector's 4318.
    ['values-aks.yaml', [], ['http://otel-collector.observability.svc.cluster.local:4318']],
    ['ci/all-features-values.yaml', [], ['https://otel-collector.observability:4318']],
    [
      'values-aks.yaml',
      ['--set', 'dapr.tracing.otlpProtocol=http', '--set', 'dapr.tracing.otlpEndpoint=collector:14318'],
      ['http://collector:14318'],
    ],
    [
      'values-aks.yaml',
      ['--set', 'dapr.tracing.appEndpoint=http://app-collector:4318'],
      ['http://app-collector:4318'],
    ],
    // A variable named in `env` wins, and is not set twice.
    ['values-aks.yaml', ['--set', 'env.OTEL_EXPORTER_OTLP_ENDPOINT=http://mine:4318'], ['http://mine:4318']],
  ] as [string, string[], string[]][])('%s %j: %j', (file, args, expected) => {
    const perService = otlp(file, args);
    expect(perService).toHaveLength(APP_IDS.length);
    for (const values of perService) expect(values).toEqual(expected);
  });
});

describe('alerts', () => {
  const rules = (args: string[] = []): Obj[] =>
    renderChart(['-f', join(chartDir, 'ci/all-features-values.yaml'), ...args], helm)
      .filter((r) => r.object.kind === 'PrometheusRule')
      .flatMap((r) => (r.object as Obj).spec.groups.flatMap((g: Obj) => g.rules))
      .filter((rule: Obj) => rule.alert);

  test("every alert's runbook_url is a page of docs/runbooks at this version", () => {
    const base = `${chart.home}/blob/v${chart.appVersion}/docs/runbooks/`;
    const alerts = rules();
    expect(alerts.length).toBeGreaterThanOrEqual(4);
    const index = readFileSync(join(repoRoot, 'docs/runbooks/README.md'), 'utf8');
    for (const rule of alerts) {
      const url = rule.annotations?.runbook_url as string;
      expect({ alert: rule.alert, base: url?.slice(0, base.length) }).toEqual({ alert: rule.alert, base });
      const page = join(repoRoot, 'docs/runbooks', url.slice(base.length));
      expect({ alert: rule.alert, exists: existsSync(page) }).toEqual({ alert: rule.alert, exists: true });
      // The page is about this alert, and the index lists it.
      expect(readFileSync(page, 'utf8').split('\n')[0]).toBe(`# ${rule.alert}`);
      expect(index).toContain(`\`${rule.alert}\``);
    }
  });

  test('monitoring.prometheusRule.runbookBaseUrl moves every link', () => {
    for (const rule of rules([
      '--set',
      'monitoring.prometheusRule.runbookBaseUrl=https://wiki.example.com/runbooks/',
    ]))
      expect(rule.annotations.runbook_url).toMatch(/^https:\/\/wiki\.example\.com\/runbooks\/[a-z-]+\.md$/);
  });
});
