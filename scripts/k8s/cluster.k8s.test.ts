import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { EventSchemas, type Task } from '@taskstream/contracts';
import pg from 'pg';
import WebSocket from 'ws';
import { appCaller, eventually, signUpThrough } from '../stack/e2e-client.js';
import { endOffsets, readTopic, saramaPartition } from '../stack/kafka.js';
import type { StackEnv } from '../stack/sidecar.js';
import { checkOnce } from '../verify-deploy.js';

/**
 * helm/taskstream installed on the local Kubernetes node (`npm run test:k8s`: scripts/k8s/k8s.sh
 * up, then deploy-local.sh --cluster local, then this file inside the node's network namespace).
 * Every call goes to a Service's cluster address inside that namespace, through kube-proxy to a
 * pod whose daprd sidecar the Dapr injector added; events go through the Kafka broker on the
 * node's address, reminders through the Dapr scheduler in dapr-system.
 */
const NAMESPACE = process.env.K8S_RELEASE_NAMESPACE ?? 'taskstream';
const RELEASE = process.env.K8S_RELEASE ?? 'taskstream';
const SERVICES = ['task-api', 'recurring', 'notification', 'audit', 'sync', 'payments', 'fraud'] as const;
const TOPIC = 'task-events';

for (const key of ['KUBECONFIG', 'KAFKA_BROKERS', 'KAFKA_CLASSPATH_FILE', 'K8S_NODE_IP', 'HELM']) {
  if (!process.env[key]) throw new Error(`${key} is not set: run these tests with npm run test:k8s`);
}
const kafkaEnv = {
  KAFKA_BROKERS: process.env.KAFKA_BROKERS,
  KAFKA_CLASSPATH_FILE: process.env.KAFKA_CLASSPATH_FILE,
} as StackEnv;

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

const urls: Record<string, string> = {};

const call = appCaller(urls);
const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  for (const id of SERVICES) {
    const svc = await core.readNamespacedService({ name: `${RELEASE}-${id}`, namespace: NAMESPACE });
    const ip = svc.spec?.clusterIP;
    // Only the cluster's own addresses, inside its namespace: the service range of the node.
    expect(ip).toMatch(/^10\.96\./);
    urls[id] = `http://${ip}:${svc.spec?.ports?.[0]?.port ?? 80}`;
  }
});

/** The release's service pods (those with a Dapr sidecar), leaving out any being deleted. */
async function servicePods() {
  return (
    await core.listNamespacedPod({
      namespace: NAMESPACE,
      labelSelector: `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/part-of=taskstream`,
    })
  ).items.filter(
    (p) => p.metadata?.annotations?.['dapr.io/enabled'] === 'true' && !p.metadata.deletionTimestamp,
  );
}

describe('the release on the node', () => {
  test("verify-deploy's checks pass: rollouts complete, daprd injected beside every app, every container ready, Dapr objects present", async () => {
    const checks = await checkOnce(kc, { namespace: NAMESPACE, release: RELEASE, timeoutSeconds: 0 });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const sidecars = checks.filter((c) => c.name.startsWith('sidecar '));
    // One per replica: values-minikube.yaml runs one of each, sync's StatefulSet too.
    expect(sidecars.length).toBeGreaterThanOrEqual(SERVICES.length);
  });

  test('every service pod runs as uid 1000 on a read-only root filesystem; its sidecar speaks mTLS with sentry', async () => {
    const pods = await servicePods();
    expect(pods.length).toBeGreaterThanOrEqual(SERVICES.length);
    for (const pod of pods) {
      const app = pod.spec?.containers.find((c) => c.name !== 'daprd');
      expect(pod.spec?.securityContext?.runAsUser).toBe(1000);
      expect(app?.securityContext?.readOnlyRootFilesystem).toBe(true);
      const daprd = pod.spec?.containers.find((c) => c.name === 'daprd');
      expect(daprd?.image).toBe(`local.test/daprd:1.18.2`);
      // The injector turns mTLS on from the control plane's Configuration and points at sentry.
      expect(daprd?.args).toEqual(expect.arrayContaining(['--enable-mtls']));
      expect(
        daprd?.env?.find((e) => e.name === 'DAPR_SENTRY_ADDRESS')?.value ?? daprd?.args?.join(' '),
      ).toMatch(/dapr-sentry\.dapr-system\.svc/);
    }
    const config = (await custom.getNamespacedCustomObject({
      group: 'dapr.io',
      version: 'v1alpha1',
      namespace: 'dapr-system',
      plural: 'configurations',
      name: 'daprsystem',
    })) as { spec?: { mtls?: { enabled?: boolean } } };
    expect(config.spec?.mtls?.enabled).toBe(true);
  });

  test('the migrations ran in the pre-install hook: the services started with MIGRATE_ON_START=false and their tables exist', async () => {
    const pod = (
      await core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: 'app.kubernetes.io/component=task-api',
      })
    ).items[0];
    const env = pod.spec?.containers.find((c) => c.name === 'task-api')?.env ?? [];
    expect(env.find((e) => e.name === 'MIGRATE_ON_START')?.value).toBe('false');
    const db = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
    await db.connect();
    try {
      const { rows } = await db.query(
        `SELECT table_name FROM information_schema.tables WHERE table_name = ANY($1::text[])`,
        [['users', 'tasks', 'audit_logs']],
      );
      expect(rows.map((r) => r.table_name).sort()).toEqual(['audit_logs', 'tasks', 'users']);
    } finally {
      await db.end();
    }
  });

  test('helm test of the release passes', async () => {
    const { stdout } = await exec(
      process.env.HELM as string,
      ['test', RELEASE, '--namespace', NAMESPACE, '--timeout', '3m'],
      { env: process.env },
    );
    expect(stdout).toMatch(/Phase:\s+Succeeded/);
  }, 240_000);
});

/**
 * Whether a pod with these labels opens a TCP connection to host:port within 20 s (kube-router
 * puts a new pod into the policies' ipsets within moments, so the probe tries again until then).
 * The probe runs node from a service image, as non-root on a read-only root filesystem.
 */
async function podCanConnect(labels: Record<string, string>, host: string, port: number): Promise<boolean> {
  const image = (await podOf('task-api')).spec?.containers.find((c) => c.name !== 'daprd')?.image;
  const name = `np-probe-${randomUUID().slice(0, 8)}`;
  const script = `const net = require('node:net');
const until = Date.now() + 20000;
(function attempt() {
  const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 2000 });
  s.on('connect', () => process.exit(0));
  const again = () => { s.destroy(); if (Date.now() > until) process.exit(1); setTimeout(attempt, 500); };
  s.on('timeout', again);
  s.on('error', again);
})();`;
  await core.createNamespacedPod({
    namespace: NAMESPACE,
    body: {
      metadata: { name, labels },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'probe',
            image,
            imagePullPolicy: 'Never',
            command: ['node', '-e', script, host, String(port)],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    },
  });
  try {
    const phase = await eventually(
      `probe ${name} done`,
      async () => {
        const p = (await core.readNamespacedPod({ name, namespace: NAMESPACE })).status?.phase;
        return p === 'Succeeded' || p === 'Failed' ? p : undefined;
      },
      120_000,
    );
    return phase === 'Succeeded';
  } finally {
    await core.deleteNamespacedPod({ name, namespace: NAMESPACE, gracePeriodSeconds: 0 });
  }
}

describe("the chart's NetworkPolicies, enforced by kube-router's firewall on the node", () => {
  test("a pod outside the allowed sets reaches neither task-api's app port nor its sidecar's; the helm-test pod reaches the app port, a release pod the sidecar's", async () => {
    const target = await podOf('task-api');
    const ip = target.status?.podIP as string;
    const appPort = target.spec?.containers
      .find((c) => c.name !== 'daprd')
      ?.ports?.find((p) => p.name === 'http')?.containerPort as number;
    const dns = (
      await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'k8s-app=kube-dns' })
    ).items[0]?.status?.podIP as string;
    const outsider = { app: 'np-outsider' };
    const [toApp, toSidecar, toDns, helmTest, releasePod] = await Promise.all([
      podCanConnect(outsider, ip, appPort),
      podCanConnect(outsider, ip, 50002),
      // The control: the outsider's network works where no policy applies (CoreDNS's pod).
      podCanConnect(outsider, dns, 1053),
      podCanConnect(
        { 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/component': 'helm-test' },
        ip,
        appPort,
      ),
      podCanConnect(
        { 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/part-of': 'taskstream' },
        ip,
        50002,
      ),
    ]);
    expect({ toApp, toSidecar, toDns, helmTest, releasePod }).toEqual({
      toApp: false,
      toSidecar: false,
      toDns: true,
      helmTest: true,
      releasePod: true,
    });
  }, 240_000);
});

describe('a user through the cluster', () => {
  let user: { token: string; userId: string };
  let socket: WebSocket;
  const received: string[] = [];

  beforeAll(async () => {
    await eventually('task-api ready', async () =>
      (await call('task-api', 'GET', '/readyz')).status === 200 ? true : undefined,
    );
    user = await signUpThrough(call, 'K8s E2E');
    // Live updates from sync's pod, opened before anything happens.
    socket = new WebSocket(`${urls.sync.replace('http', 'ws')}/ws/tasks`, ['bearer', user.token]);
    socket.on('message', (data) => received.push(String(data)));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
  }, 180_000);

  afterAll(() => socket?.close());

  test('a task with a reminder and a daily recurrence: its event on the broker keyed by the user, the reminder through the Jobs API, the audit row, the WebSocket update, the next occurrence', async () => {
    const before = await endOffsets(TOPIC, { env: kafkaEnv });
    const partitions = before.size || 4;
    const partition = saramaPartition(user.userId, partitions);
    const fireAt = new Date(Date.now() + 5_000);
    const due = new Date(Date.now() + 24 * 3600_000);
    due.setUTCHours(9, 0, 0, 0);
    const created = await call('task-api', 'POST', '/api/tasks', {
      token: user.token,
      body: {
        title: `k8s ${randomUUID()}`,
        due_date: due.toISOString(),
        recurrence: { rule: 'daily', anchor: 'due' },
        reminders: [{ at: fireAt.toISOString(), channels: ['in_app'] }],
      },
    });
    expect(created.status).toBe(201);
    const task = created.body as Task;

    // On Kafka, keyed by the user: per-user order holds across partitions.
    const record = await eventually('the task.created record on the broker', async () => {
      const records = await readTopic(TOPIC, {
        env: kafkaEnv,
        partition,
        offset: before.get(partition) ?? 0,
        max: 50,
        timeoutMs: 8_000,
      });
      return records.find((r) => JSON.parse(r.value).subject === task.id);
    });
    expect(record.key).toBe(user.userId);
    const event = JSON.parse(record.value);
    expect(event).toMatchObject({ type: 'com.taskstream.task.created', subject: task.id });
    expect(EventSchemas['task.created'].safeParse(event).error?.issues ?? []).toEqual([]);

    // The WebSocket update from sync's pod.
    await eventually('the WebSocket update', async () =>
      received.some((m) => m.includes(task.id)) ? true : undefined,
    );

    // audit's pod stored the row.
    const rows = await eventually('the audit row', async () => {
      const res = await call('audit', 'GET', `/api/audit-logs?task_id=${task.id}`, { token: user.token });
      expect(res.status).toBe(200);
      return res.body.items.length ? res.body.items : undefined;
    });
    expect(rows[0]).toMatchObject({ task_id: task.id, actor: user.userId, action: 'task.created' });

    // The reminder fired through the Dapr Jobs API (scheduler in dapr-system) into notification.
    const notification = await eventually('the in-app reminder', async () => {
      const res = await call('notification', 'GET', '/api/notifications', { token: user.token });
      expect(res.status).toBe(200);
      return (res.body.items as { task_id: string | null; created_at: string }[]).find(
        (n) => n.task_id === task.id,
      );
    });
    expect(Date.parse(notification.created_at)).toBeGreaterThanOrEqual(fireAt.getTime());

    // Completing it: recurring's pod invokes task-api's (service invocation over mTLS) for the next one.
    const done = await call('task-api', 'POST', `/api/tasks/${task.id}/complete`, { token: user.token });
    expect(done.status).toBe(200);
    const next = await eventually('the next occurrence', async () => {
      const res = await call('task-api', 'GET', '/api/tasks?status=pending&limit=100', { token: user.token });
      return (res.body.items as Task[]).find((t) => t.series_id === task.id);
    });
    expect(next).toMatchObject({ series_id: task.id, occurrence: task.occurrence + 1, status: 'pending' });
    expect(Date.parse(next.due_date!)).toBe(due.getTime() + 24 * 3600_000);
  }, 300_000);
});

/** One release pod of a service: the one the Service routes to (values-minikube runs one each). */
async function podOf(component: (typeof SERVICES)[number]) {
  const pod = (await servicePods()).find(
    (p) => p.metadata?.labels?.['app.kubernetes.io/component'] === component,
  );
  if (!pod?.metadata?.name) throw new Error(`no pod of ${component}`);
  return pod;
}

/** Every check verify-deploy makes passes again: rollouts done, sidecars injected, containers ready. */
async function releaseHealthy() {
  await eventually(
    'the release healthy again',
    async () => {
      const checks = await checkOnce(kc, { namespace: NAMESPACE, release: RELEASE, timeoutSeconds: 0 });
      return checks.every((c) => c.ok) ? true : undefined;
    },
    600_000,
  );
}

// One account for every run under load: task-api limits registrations per client address (429),
// and every run's creates are told apart by their ids anyway.
let loadAccount: ReturnType<typeof signUpThrough> | undefined;
const loadUser = () => {
  loadAccount ??= signUpThrough(call, 'Load');
  return loadAccount;
};

// How long the client retries one create (the same Idempotency-Key on every attempt) before it
// counts it as failed: long enough for a replaced pod of a one-replica Deployment to start.
const RETRY_BUDGET_MS = 180_000;

/**
 * A client creating a task every 200 ms, each retried (same Idempotency-Key, so a retry never
 * makes two tasks) until accepted or RETRY_BUDGET_MS passes, while `disrupt` runs: it starts once
 * writes are flowing (mid-stream), and the client keeps writing until the release is healthy
 * again and a few seconds more. Then every accepted task's task.created event must be in audit
 * exactly once: none lost, none doubled.
 */
async function underSteadyWrites(label: string, disrupt: () => Promise<void>) {
  const { token } = await loadUser();
  const created: string[] = [];
  const failed: string[] = [];
  let retried = 0;
  let writing = true;
  let recovered = Number.POSITIVE_INFINITY;
  const run = `${label.replace(/\W+/g, '-')}-${Date.now()}`;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const deadline = Date.now() + RETRY_BUDGET_MS;
      let lastError = '';
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${urls['task-api']}/api/tasks`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${token}`,
              'idempotency-key': `${run}-${i}`,
            },
            body: JSON.stringify({ title: `load ${i}` }),
            signal: AbortSignal.timeout(10_000),
          });
          if (res.status === 201 || res.status === 200) {
            created.push(((await res.json()) as Task).id);
            lastError = '';
            break;
          }
          lastError = `HTTP ${res.status}`;
        } catch (err) {
          lastError = String(err);
        }
        if (Date.now() > deadline) break;
        retried++;
        await sleep(Math.min(500 * attempt, 3_000));
      }
      if (lastError) failed.push(`task ${i}: ${lastError}`);
      await sleep(200);
    }
  })();

  try {
    await eventually('writes flowing', async () => (created.length >= 5 ? true : undefined));
    await disrupt();
    await releaseHealthy();
    recovered = created.length;
    await sleep(5_000);
  } finally {
    writing = false;
    await writer;
  }

  expect(failed).toEqual([]);
  // Writes flowed before the disruption (the wait above) and went on after the release recovered.
  expect(created.length).toBeGreaterThan(recovered);
  const db = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
  await db.connect();
  try {
    const counts = await eventually(
      'every audit row',
      async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM audit_logs
            WHERE action = 'task.created' AND task_id = ANY($1::uuid[])`,
          [created],
        );
        return rows[0].tasks === created.length ? rows[0] : undefined;
      },
      180_000,
    );
    expect(counts).toEqual({ n: created.length, tasks: created.length });
  } finally {
    await db.end();
  }
  console.log(`${label}: ${created.length} tasks created, ${retried} retried attempts, none lost or doubled`);
}

describe('a rolling upgrade under steady writes', () => {
  test('helm upgrade to a new image tag while a client writes: no request fails beyond retries, every event reaches audit once', async () => {
    const tag = `k8s-upgrade-${Date.now()}`;
    // The same code under a new tag: every pod of the release is replaced.
    await exec('bash', ['scripts/k8s/k8s.sh', 'images', tag], { env: process.env, maxBuffer: 16 << 20 });
    await underSteadyWrites('rolling upgrade', async () => {
      await exec(
        process.env.HELM as string,
        [
          'upgrade',
          RELEASE,
          'helm/taskstream',
          '--namespace',
          NAMESPACE,
          '--reuse-values',
          '--set',
          `global.image.tag=${tag}`,
          '--wait',
          '--timeout',
          '10m',
        ],
        { env: process.env, maxBuffer: 16 << 20 },
      );
    });
    for (const pod of await servicePods())
      expect(pod.spec?.containers.find((c) => c.name !== 'daprd')?.image).toContain(`:${tag}`);
  }, 900_000);
});

/** Kills the daprd container of a service's pod (SIGKILL through containerd); the kubelet restarts it. */
async function killSidecar(component: (typeof SERVICES)[number]) {
  const pod = await podOf(component);
  const status = pod.status?.containerStatuses?.find((c) => c.name === 'daprd');
  const id = status?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`no daprd container in ${pod.metadata?.name}`);
  await exec('ctr', [
    '--address',
    process.env.CONTAINERD_ADDRESS as string,
    '-n',
    'k8s.io',
    'tasks',
    'kill',
    '-s',
    'SIGKILL',
    id,
  ]);
  await eventually('daprd restarted by the kubelet', async () => {
    const now = await core.readNamespacedPod({ name: pod.metadata?.name as string, namespace: NAMESPACE });
    const restarts = now.status?.containerStatuses?.find((c) => c.name === 'daprd')?.restartCount ?? 0;
    return restarts > (status?.restartCount ?? 0) ? true : undefined;
  });
}

// Each fault hits the write path (task-api, its sidecar, the broker, PostgreSQL) or the consuming
// side (audit, its sidecar) while writes flow; the writes before, during and after must each
// reach audit exactly once.
const FAULTS: [string, () => Promise<void>][] = [
  [
    "task-api's and audit's pods killed (deleted with no grace period, as --force does)",
    async () => {
      for (const component of ['task-api', 'audit'] as const) {
        const pod = await podOf(component);
        await core.deleteNamespacedPod({
          name: pod.metadata?.name as string,
          namespace: NAMESPACE,
          gracePeriodSeconds: 0,
        });
        // Its ReplicaSet has made the replacement (releaseHealthy then waits for it to be ready).
        await eventually(`a new ${component} pod`, async () => {
          const name = (await podOf(component).catch(() => undefined))?.metadata?.name;
          return name && name !== pod.metadata?.name ? true : undefined;
        });
      }
    },
  ],
  [
    "the daprd sidecars of task-api's and audit's pods killed",
    async () => {
      await killSidecar('task-api');
      await killSidecar('audit');
    },
  ],
  [
    'the Kafka broker restarted',
    async () => void (await exec('bash', ['scripts/k8s/k8s.sh', 'restart', 'kafka'], { env: process.env })),
  ],
  [
    'PostgreSQL restarted',
    async () =>
      void (await exec('bash', ['scripts/k8s/k8s.sh', 'restart', 'postgres'], { env: process.env })),
  ],
];

describe('faults under steady writes', () => {
  test.each(FAULTS)(
    '%s: no request fails beyond retries, every event reaches audit once',
    async (label, fault) => {
      await underSteadyWrites(label, fault);
    },
    900_000,
  );
});
