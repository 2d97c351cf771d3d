import { stringify as yamlStringify } from 'yaml';

/** Keys that read best first; every other key follows in code-unit order. */
const FIRST = [
  '$schema',
  '$id',
  'openapi',
  'asyncapi',
  'jsonSchemaDialect',
  'id',
  'info',
  'title',
  'name',
  'summary',
  'description',
  'type',
  '$ref',
];
const rank = (key: string) => {
  const i = FIRST.indexOf(key);
  return i === -1 ? FIRST.length : i;
};
const byKey = ([a]: [string, unknown], [b]: [string, unknown]) =>
  rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);

/**
 * A copy with a stable key order, so the generated files do not depend on the order code
 * happens to build objects in. The names under a JSON Schema `properties` keep their
 * declaration order (the order of the zod shape), which reads like the source.
 */
export function canonical(value: unknown, propertyNames = false): unknown {
  if (Array.isArray(value)) return value.map((item) => canonical(item));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (!propertyNames) entries.sort(byKey);
  return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v, !propertyNames && k === 'properties')]));
}

export const toJson = (value: unknown) => `${JSON.stringify(canonical(value), null, 2)}\n`;

export const toYaml = (value: unknown) =>
  yamlStringify(canonical(value), { aliasDuplicateObjects: false, lineWidth: 0 });
