/**
 * The one source of helm/taskstream/values.schema.json: a zod schema of the chart's values.
 *
 *   tsx scripts/chart-check/values-schema.ts --write   write values.schema.json
 *   tsx scripts/chart-check/values-schema.ts --check   exit 1 when it is stale (chart-check)
 *
 * Helm validates the merged values (values.yaml, -f files, --set) against values.schema.json on
 * `helm install|upgrade|template|lint`, so a misspelt key or a wrong type fails before anything
 * reaches the cluster. Every map the chart itself defines is closed (unknown keys refused); maps
 * handed to Kubernetes as they are (`@raw` in values.yaml: resources, affinity, annotations, ...)
 * stay open, Kubernetes and kubeconform check those. Every leaf is optional: values.yaml supplies
 * the defaults, and a values file only names what it changes. Descriptions come from the `# --`
 * comments of values.yaml (values-readme.ts reads them), so they are written once.
 *
 * Environment variable names (`env`, `services.<id>.env`, `secretEnv`, `secrets.keys`) must be
 * names of services/platform/src/config.ts, the same rule chart.check.test.ts holds the renders to.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppIds } from '@taskstream/contracts';
import { ConfigSchema } from '@taskstream/platform';
import { z } from 'zod';
import { chartDir } from './helm.js';
import { readValues } from './values-readme.js';

/** The services the chart knows: the Dapr app ids of the contracts. */
export const APP_IDS = AppIds;

/** A closed map whose keys may each be left out. */
const section = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape).partial();
/** A map passed to Kubernetes as it is. */
const raw = () => z.record(z.string(), z.unknown());
const stringMap = () => z.record(z.string(), z.string());
// Schemas used in many places are defined once (`definitions` in the JSON Schema).
const Quantity = z
  .union([z.string().regex(/^[+]?[0-9.]+([eE][+-]?[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/), z.number()])
  .meta({ id: 'quantity', description: 'A Kubernetes quantity: 100m, 1, 256Mi, 5Gi' });
const quantity = () => Quantity;
const Resources = section({
  requests: z.record(z.string(), Quantity),
  limits: z.record(z.string(), Quantity),
  claims: z.array(raw()),
}).meta({ id: 'resources' });
const resources = () => Resources;
const port = () => z.int().min(1).max(65535);
const count = () => z.int().min(0);
/** A Go duration as Dapr and Prometheus read them: 30s, 5m, 1h30m, 250ms. */
const duration = () => z.string().regex(/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
const urlOrEmpty = () => z.string().regex(/^(https?:\/\/[^\s/]+(\/\S*)?)?$/, 'an http(s) URL, or empty');
/** A DNS-1123 name (Secrets, ConfigMaps, components). */
const objectName = () => z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/);

const configNames = Object.keys(ConfigSchema.shape) as [string, ...string[]];
const EnvName = z
  .enum(configNames)
  .meta({ id: 'envName', description: 'A setting of services/platform/src/config.ts' });
const envName = () => EnvName;
/** Plain variables: rendered with toString, so numbers and booleans are fine. */
const envMap = () => z.partialRecord(envName(), z.union([z.string(), z.number(), z.boolean()]));

const Probe = z
  .looseObject({
    path: z.string().regex(/^\//, 'a path starting with /'),
    periodSeconds: z.int().min(1).optional(),
    timeoutSeconds: z.int().min(1).optional(),
    failureThreshold: z.int().min(1).optional(),
    successThreshold: z.int().min(1).optional(),
    initialDelaySeconds: z.int().min(0).optional(),
  })
  .meta({ id: 'probe' });
const probe = () => Probe;

/** serviceDefaults, and what services.<app id> may override of it. */
const serviceSettings = {
  replicas: count(),
  broadcast: z.boolean(),
  image: section({ repository: z.string(), tag: z.string() }),
  resources: resources(),
  env: envMap(),
  secretEnv: z.array(envName()),
  probes: section({ liveness: probe(), readiness: probe(), startup: probe() }),
  autoscaling: section({
    enabled: z.boolean(),
    minReplicas: z.int().min(1),
    maxReplicas: z.int().min(1),
    targetCPUUtilizationPercentage: z.int().min(1).max(100),
  }),
  podDisruptionBudget: section({ enabled: z.boolean(), maxUnavailable: z.union([count(), z.string()]) }),
  terminationGracePeriodSeconds: count(),
  podAnnotations: stringMap(),
  podLabels: stringMap(),
  nodeSelector: stringMap(),
  tolerations: z.array(raw()),
  affinity: raw(),
  topologySpreadConstraints: z.array(raw()),
  dapr: section({
    logLevel: z.enum(['debug', 'info', 'warn', 'error']),
    sidecarResources: resources(),
    extraAnnotations: stringMap(),
  }),
  ingress: section({
    paths: z.array(z.string().regex(/^\//, 'a path starting with /')),
    websocketPaths: z.array(z.string().regex(/^\//, 'a path starting with /')),
  }),
};

const service = () => section({ enabled: z.boolean(), ...serviceSettings });

const imageRef = () => section({ repository: z.string().min(1), tag: z.string().min(1) });
const storage = () => section({ size: quantity(), storageClassName: z.string() });

export const ValuesSchema = section({
  // Helm hands every chart a `global` map (shared with subcharts); this chart has none.
  global: section({
    image: section({
      registry: z
        .string()
        .regex(/^([^/\s]+(\/[^/\s]+)*)?$/, 'a registry host, optionally with a path, no trailing /'),
      repository: z.string().min(1),
      tag: z.string(),
      pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
    }),
    imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })),
  }),
  nameOverride: z.string(),
  fullnameOverride: z.string(),
  commonLabels: stringMap(),
  secrets: section({
    existingSecret: objectName(),
    keys: z.partialRecord(envName(), z.strictObject({ key: z.string().min(1), optional: z.boolean() })),
  }),
  serviceAccount: section({
    create: z.boolean(),
    name: z.string(),
    annotations: stringMap(),
    automountServiceAccountToken: z.boolean(),
  }),
  env: envMap(),
  serviceDefaults: section(serviceSettings),
  services: section(
    Object.fromEntries(APP_IDS.map((id) => [id, service()])) as Record<
      (typeof APP_IDS)[number],
      ReturnType<typeof service>
    >,
  ),
  dapr: section({
    enabled: z.boolean(),
    configName: z.string(),
    logAsJson: z.boolean(),
    appProtocol: z.enum(['http', 'https', 'h2c', 'grpc', 'grpcs']),
    metricsPort: port(),
    appHealthCheck: section({
      enabled: z.boolean(),
      path: z.string().regex(/^\//, 'a path starting with /'),
      probeIntervalSeconds: z.int().min(1),
      probeTimeoutMilliseconds: z.int().min(1),
      threshold: z.int().min(1),
    }),
    gracefulShutdownSeconds: count(),
    disableBuiltinK8sSecretStore: z.boolean(),
    apiToken: section({ existingSecret: objectName() }),
    appToken: section({ existingSecret: objectName() }),
    pubsub: section({
      name: objectName(),
      scopes: z.array(z.enum(APP_IDS)),
      broadcastName: objectName(),
    }),
    statestore: section({
      name: objectName(),
      scopes: z.array(z.enum(APP_IDS)),
      connectionString: section({ existingSecret: objectName(), key: z.string().min(1) }),
      tablePrefix: z.string(),
      timeout: duration(),
      cleanupInterval: duration(),
    }),
    resiliency: section({ enabled: z.boolean(), policies: raw() }),
    tracing: section({
      samplingRate: z.string().regex(/^(0(\.[0-9]+)?|1(\.0+)?)$/, 'a fraction from "0" to "1", as a string'),
      otlpEndpoint: z.string().regex(/^([^/:\s]+(:[0-9]+)?)?$/, 'host:port, no scheme'),
      otlpProtocol: z.enum(['grpc', 'http']),
      otlpIsSecure: z.boolean(),
      appEndpoint: urlOrEmpty(),
    }),
  }),
  kafka: section({
    brokers: z.string(),
    version: z.string().regex(/^[0-9]+\.[0-9]+\.[0-9]+$/),
    initialOffset: z.enum(['oldest', 'newest']),
    tls: section({ enabled: z.boolean() }),
    sasl: section({
      enabled: z.boolean(),
      mechanism: z.enum(['SHA-256', 'SHA-512']),
      existingSecret: objectName(),
      usernameKey: z.string().min(1),
      passwordKey: z.string().min(1),
    }),
    consumerLag: section({ enabled: z.boolean() }),
  }),
  migrations: section({
    enabled: z.boolean(),
    backoffLimit: count(),
    activeDeadlineSeconds: z.int().min(1),
    resources: resources(),
  }),
  ingress: section({
    enabled: z.boolean(),
    className: z.string(),
    host: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a host name, no scheme or path'),
    annotations: stringMap(),
    tls: section({ enabled: z.boolean(), secretName: z.string() }),
    websocketAnnotations: stringMap(),
  }),
  networkPolicy: section({
    enabled: z.boolean(),
    ingressNamespaceSelector: raw(),
    monitoringNamespaceSelector: raw(),
  }),
  monitoring: section({
    metricsPort: port(),
    grafanaDashboards: section({
      enabled: z.boolean(),
      label: z.string().min(1),
      labelValue: z.string(),
      namespace: z.string(),
      annotations: stringMap(),
    }),
    serviceMonitor: section({
      enabled: z.boolean(),
      labels: stringMap(),
      interval: duration(),
      scrapeTimeout: duration(),
    }),
    prometheusRule: section({
      enabled: z.boolean(),
      labels: stringMap(),
      runbookBaseUrl: urlOrEmpty(),
      lagThreshold: z.number().min(0),
      errorRateThreshold: z.number().min(0).max(1),
      outboxBacklogThreshold: z.number().min(0),
    }),
  }),
  podSecurityContext: raw(),
  securityContext: raw(),
  tmpSizeLimit: quantity(),
  redpanda: section({
    enabled: z.boolean(),
    image: imageRef(),
    memory: z.string().regex(/^[0-9]+[KMGT]?$/),
    resources: resources(),
    storage: storage(),
  }),
  postgresql: section({
    enabled: z.boolean(),
    image: imageRef(),
    database: z.string().min(1),
    username: z.string().min(1),
    passwordKey: z.string().min(1),
    resources: resources(),
    storage: storage(),
  }),
});

type Json = Record<string, unknown>;

/** The value at a dotted values.yaml path (`serviceDefaults.image.tag`) in the JSON Schema. */
function propertyAt(schema: Json, key: string): Json | undefined {
  let node: Json | undefined = schema;
  for (const part of key.split('.')) node = (node?.properties as Record<string, Json> | undefined)?.[part];
  return node;
}

/** Every dotted path the schema's `properties` spell out (not into `definitions`). */
function propertyPaths(node: Json, prefix = ''): string[] {
  const properties = (node.properties ?? {}) as Record<string, Json>;
  return Object.entries(properties).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...propertyPaths(child, path)];
  });
}

/** values.schema.json: draft-07 (what every Helm 3.x and 4 validates), with values.yaml's descriptions. */
export function valuesJsonSchema(valuesYaml: string): Json {
  const schema = z.toJSONSchema(ValuesSchema, { target: 'draft-07', io: 'input' }) as Json;
  schema.title = 'taskstream Helm chart values';
  schema.description =
    'Generated from scripts/chart-check/values-schema.ts (npx tsx scripts/chart-check/values-schema.ts --write); do not edit.';
  const docs = readValues(valuesYaml);
  const missing: string[] = [];
  for (const doc of docs) {
    const property = propertyAt(schema, doc.key);
    if (property) property.description = doc.description;
    else missing.push(doc.key);
  }
  if (missing.length) throw new Error(`values.yaml keys the schema does not describe: ${missing.join(', ')}`);
  // And the other way: a key the schema allows but values.yaml never mentions would be accepted and
  // ignored, the very mistake the schema is there to stop. (services.<id> takes serviceDefaults' keys.)
  const keys = docs.map((d) => d.key);
  const known = (path: string) =>
    keys.some((k) => k === path || k.startsWith(`${path}.`) || path.startsWith(`${k}.`));
  const unknown = propertyPaths(schema).filter((p) => !p.startsWith('services.') && !known(p));
  if (unknown.length) throw new Error(`schema keys values.yaml does not have: ${unknown.join(', ')}`);
  return schema;
}

export const schemaPath = join(chartDir, 'values.schema.json');

export function renderSchemaFile(): string {
  return `${JSON.stringify(valuesJsonSchema(readFileSync(join(chartDir, 'values.yaml'), 'utf8')), null, 2)}\n`;
}

if (process.argv[1]?.endsWith('values-schema.ts')) {
  const mode = process.argv[2];
  if (mode !== '--write' && mode !== '--check') {
    console.error('usage: values-schema.ts --write|--check');
    process.exit(2);
  }
  try {
    const next = renderSchemaFile();
    let current = '';
    try {
      current = readFileSync(schemaPath, 'utf8');
    } catch {}
    if (mode === '--write') {
      if (next !== current) writeFileSync(schemaPath, next);
      console.log('helm/taskstream/values.schema.json written');
    } else if (next !== current) {
      console.error(
        'helm/taskstream/values.schema.json is stale: run npx tsx scripts/chart-check/values-schema.ts --write',
      );
      process.exit(1);
    } else {
      console.log('helm/taskstream/values.schema.json matches scripts/chart-check/values-schema.ts');
    }
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
