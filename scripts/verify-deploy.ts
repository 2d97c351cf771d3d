/**
 * Checks a taskstream release in a cluster, the way an operator would after `helm upgrade`:
 *
 *   npx tsx scripts/verify-deploy.ts [--namespace taskstream] [--release taskstream]
 *                                    [--timeout 300] [--context <kube context>]
 *
 * For every Deployment (and the sync StatefulSet) of the release (label
 * app.kubernetes.io/instance=<release>, part-of=taskstream): the rollout is complete (observed generation, updated = ready = available =
 * desired replicas); each of its pods has the daprd sidecar injected (container `daprd`) beside
 * the app container, every container ready, and the app id annotation equal to the component.
 * Then the Dapr Components, Resiliency and Configuration of the release exist. Polls until all
 * pass or --timeout seconds pass; prints one line per check and exits 1 on any failure.
 * Uses the current kubeconfig (KUBECONFIG or ~/.kube/config) through @kubernetes/client-node.
 */
import * as k8s from '@kubernetes/client-node';

export interface Options {
  namespace: string;
  release: string;
  timeoutSeconds: number;
  context?: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const EXPECTED_APPS = ['task-api', 'recurring', 'notification', 'audit', 'sync', 'payments', 'fraud'];
const DAPR_GROUP = 'dapr.io';
const DAPR_VERSION = 'v1alpha1';

function parseArgs(argv: string[]): Options {
  const options: Options = { namespace: 'taskstream', release: 'taskstream', timeoutSeconds: 300 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--namespace') options.namespace = value;
    else if (flag === '--release') options.release = value;
    else if (flag === '--timeout') options.timeoutSeconds = Number(value);
    else if (flag === '--context') options.context = value;
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  if (!Number.isFinite(options.timeoutSeconds) || options.timeoutSeconds < 0)
    throw new Error('--timeout: seconds');
  return options;
}

type Workload = k8s.V1Deployment | k8s.V1StatefulSet;

export function rolloutCheck(d: Workload): Check {
  const name = `rollout ${d.metadata?.name}`;
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const observed = (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const counts = `desired ${want}, updated ${s.updatedReplicas ?? 0}, ready ${s.readyReplicas ?? 0}, available ${s.availableReplicas ?? 0}, total ${s.replicas ?? 0}`;
  const ok =
    observed &&
    (s.updatedReplicas ?? 0) === want &&
    (s.readyReplicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want;
  return { name, ok, detail: observed ? counts : `generation not yet observed; ${counts}` };
}

export function podChecks(pod: k8s.V1Pod, appId: string): Check[] {
  const name = pod.metadata?.name ?? '?';
  const containers = pod.spec?.containers?.map((c) => c.name) ?? [];
  const statuses = pod.status?.containerStatuses ?? [];
  const annotations = pod.metadata?.annotations ?? {};
  const notReady = statuses.filter((c) => !c.ready).map((c) => c.name);
  return [
    {
      name: `sidecar ${name}`,
      ok: containers.includes('daprd') && containers.includes(appId),
      detail: `containers: ${containers.join(', ')}`,
    },
    {
      name: `app id ${name}`,
      ok: annotations['dapr.io/app-id'] === appId,
      detail: `dapr.io/app-id=${annotations['dapr.io/app-id']}`,
    },
    {
      name: `ready ${name}`,
      ok: pod.status?.phase === 'Running' && statuses.length === containers.length && notReady.length === 0,
      detail: notReady.length ? `not ready: ${notReady.join(', ')}` : `phase ${pod.status?.phase}`,
    },
  ];
}

export async function checkOnce(kc: k8s.KubeConfig, o: Options): Promise<Check[]> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const selector = `app.kubernetes.io/instance=${o.release},app.kubernetes.io/part-of=taskstream`;
  const checks: Check[] = [];

  const deployments: Workload[] = [
    ...(await apps.listNamespacedDeployment({ namespace: o.namespace, labelSelector: selector })).items,
    ...(await apps.listNamespacedStatefulSet({ namespace: o.namespace, labelSelector: selector })).items,
  ];
  const byApp = new Map<string, Workload>();
  for (const d of deployments) {
    const id = d.metadata?.labels?.['app.kubernetes.io/component'];
    if (id && d.spec?.template.metadata?.annotations?.['dapr.io/enabled'] === 'true') byApp.set(id, d);
  }
  const missing = EXPECTED_APPS.filter((id) => !byApp.has(id));
  checks.push({
    name: 'deployments',
    ok: byApp.size > 0,
    detail: `found ${[...byApp.keys()].sort().join(', ') || 'none'}${missing.length ? `; not deployed: ${missing.join(', ')}` : ''}`,
  });

  for (const [appId, d] of byApp) {
    checks.push(rolloutCheck(d));
    const labels = d.spec?.selector.matchLabels ?? {};
    const podSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = (
      await core.listNamespacedPod({ namespace: o.namespace, labelSelector: podSelector })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
    if (pods.length === 0) checks.push({ name: `pods ${appId}`, ok: false, detail: 'no pods' });
    for (const pod of pods) checks.push(...podChecks(pod, appId));
  }

  for (const plural of ['components', 'resiliencies', 'configurations']) {
    try {
      const list = (await custom.listNamespacedCustomObject({
        group: DAPR_GROUP,
        version: DAPR_VERSION,
        namespace: o.namespace,
        plural,
      })) as { items?: { metadata?: { name?: string } }[] };
      const names = (list.items ?? []).map((i) => i.metadata?.name ?? '?');
      checks.push({ name: `dapr ${plural}`, ok: names.length > 0, detail: names.join(', ') || 'none' });
    } catch (err) {
      checks.push({
        name: `dapr ${plural}`,
        ok: false,
        detail: `cannot list (is Dapr installed?): ${String(err)}`,
      });
    }
  }
  return checks;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  console.log(
    `verify-deploy: release ${options.release} in namespace ${options.namespace} (context ${kc.getCurrentContext()})`,
  );
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let checks: Check[] = [];
  for (;;) {
    try {
      checks = await checkOnce(kc, options);
    } catch (err) {
      checks = [{ name: 'cluster', ok: false, detail: String(err) }];
    }
    if (checks.every((c) => c.ok) || Date.now() >= deadline) break;
    const failing = checks.filter((c) => !c.ok).length;
    console.log(`  waiting: ${failing} of ${checks.length} checks not passing yet`);
    await new Promise((r) => setTimeout(r, 5000));
  }
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`verify-deploy: ${checks.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (process.argv[1]?.endsWith('verify-deploy.ts')) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`verify-deploy: ${(err as Error).message}`);
      process.exit(2);
    },
  );
}
