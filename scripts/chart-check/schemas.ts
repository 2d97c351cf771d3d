/**
 * Prepares JSON schemas for offline validation with kubeconform (scripts/chart-check/tools.sh):
 *
 *   tsx schemas.ts k8s  <raw dir> <out dir>   Kubernetes schemas of the kubernetes-validate wheel
 *   tsx schemas.ts crds <crd dir> <out dir>   Dapr CRDs (charts/dapr/crds of the dapr Go module)
 *
 * k8s: the wheel's `v<version>-local-strict` schemas refer to `/api/_definitions.json` under an
 * `$id` on kubernetes.io, which a validator would fetch over the network. Each file gets its `$id`
 * removed and that reference made relative, so everything resolves inside the folder.
 *
 * crds: each served version's openAPIV3Schema becomes `<kind>-<group prefix>-<version>.json`
 * (kubeconform's `{{.ResourceKind}}{{.KindSuffix}}` naming), strict like the Kubernetes ones:
 * objects with declared properties reject unknown ones unless the CRD says
 * `x-kubernetes-preserve-unknown-fields`.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Schema = { [key: string]: unknown };

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

export function rewriteK8sSchema(text: string): string {
  const schema = JSON.parse(text) as Schema;
  delete schema.$id;
  return JSON.stringify(schema).replaceAll('"/api/_definitions.json#', '"_definitions.json#');
}

/** An OpenAPI v3 structural schema of a CRD as a strict JSON schema. */
export function crdToJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(crdToJsonSchema);
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'nullable') continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, crdToJsonSchema(v)]));
    } else if (['items', 'additionalProperties', 'not'].includes(key) && isObject(value)) {
      out[key] = crdToJsonSchema(value);
    } else if (['allOf', 'anyOf', 'oneOf'].includes(key)) {
      out[key] = crdToJsonSchema(value);
    } else {
      out[key] = value;
    }
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (
    out.type === 'object' &&
    isObject(out.properties) &&
    out.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema?: { openAPIV3Schema: Schema } }[];
  };
}

function writeCrdSchemas(crdDir: string, outDir: string): number {
  let written = 0;
  for (const file of readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f))) {
    for (const doc of parseAllDocuments(readFileSync(join(crdDir, file), 'utf8'))) {
      const crd = doc.toJS() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const { group, names, versions } = crd.spec;
      for (const version of versions) {
        if (!version.served || !version.schema) continue;
        const schema = crdToJsonSchema(version.schema.openAPIV3Schema) as Schema;
        const properties = (schema.properties ?? {}) as Schema;
        properties.apiVersion = { type: 'string', enum: [`${group}/${version.name}`] };
        properties.kind = { type: 'string', enum: [names.kind] };
        schema.required = [...new Set([...((schema.required as string[]) ?? []), 'apiVersion', 'kind'])];
        const name = `${names.kind.toLowerCase()}-${group.split('.')[0]}-${version.name}.json`;
        writeFileSync(join(outDir, name), JSON.stringify(schema, null, 1));
        written++;
      }
    }
  }
  return written;
}

function writeK8sSchemas(rawDir: string, outDir: string): number {
  let written = 0;
  for (const version of readdirSync(rawDir)) {
    const match = /^(v\d+\.\d+\.\d+)-local-strict$/.exec(version);
    if (!match) continue;
    const target = join(outDir, `${match[1]}-standalone-strict`);
    mkdirSync(target, { recursive: true });
    for (const file of readdirSync(join(rawDir, version)).filter((f) => f.endsWith('.json'))) {
      writeFileSync(join(target, file), rewriteK8sSchema(readFileSync(join(rawDir, version, file), 'utf8')));
      written++;
    }
  }
  return written;
}

if (process.argv[1]?.endsWith('schemas.ts')) {
  const [mode, from, to] = process.argv.slice(2);
  if (!mode || !from || !to || !['k8s', 'crds'].includes(mode)) {
    console.error('usage: schemas.ts k8s|crds <from dir> <out dir>');
    process.exit(2);
  }
  mkdirSync(to, { recursive: true });
  const count = mode === 'k8s' ? writeK8sSchemas(from, to) : writeCrdSchemas(from, to);
  if (count === 0) {
    console.error(`schemas.ts: no schemas found in ${from}`);
    process.exit(1);
  }
  console.log(`schemas.ts: ${count} ${mode} schemas in ${to}`);
}
