/**
 * Backward compatibility of one JSON Schema version to the next, for the event schemas that
 * zod's z.toJSONSchema produces (objects, arrays, anyOf for nullables, local $defs refs).
 *
 * Both directions matter for events: consumers built against the old schema read new events,
 * and new consumers replay old events from the log. So a change is breaking when it
 * - removes a property,
 * - makes a property required that was optional (or adds a required one),
 * - changes the JSON type(s) of a value (adding `null` too),
 * - drops an enum/const value or limits a value that was free to a list, or
 * - adds a property to an object that was closed (`additionalProperties: false`), or closes one.
 * Adding an optional property to an open object, adding an enum value, and changes to
 * descriptions, formats, patterns or bounds are not flagged.
 */
export type Schema = Record<string, unknown> | boolean;
export interface BreakingChange {
  /** `$`, `$.data.payload.task.title`, `$.tags[]`, `$.changes.*` */
  path: string;
  message: string;
}

type Node = Record<string, unknown>;
const ANY = '*';

export function breakingChanges(oldSchema: Schema, newSchema: Schema): BreakingChange[] {
  const changes: BreakingChange[] = [];
  /** The schema pairs being compared further up: a recursive schema stops there. */
  const inProgress = new Set<string>();
  const oldRoot = asNode(oldSchema);
  const newRoot = asNode(newSchema);
  const ids = new Map<Node, number>();
  const idOf = (n: Node) => {
    if (!ids.has(n)) ids.set(n, ids.size);
    return ids.get(n)!;
  };

  const compare = (oldIn: Node, newIn: Node, path: string) => {
    const before = deref(oldIn, oldRoot);
    const after = deref(newIn, newRoot);
    const key = `${idOf(before)}|${idOf(after)}`;
    if (inProgress.has(key)) return;
    inProgress.add(key);
    const report = (message: string) => changes.push({ path, message });

    const oldTypes = typesOf(before, oldRoot);
    const newTypes = typesOf(after, newRoot);
    if (!sameSet(oldTypes, newTypes)) report(`type changed from ${show(oldTypes)} to ${show(newTypes)}`);
    else {
      const oldValues = valuesOf(before, oldRoot);
      const newValues = valuesOf(after, newRoot);
      if (newValues && !oldValues) report(`now limited to ${listed([...newValues])}`);
      else if (oldValues && newValues)
        for (const v of oldValues)
          if (!newValues.has(v)) report(`value ${JSON.stringify(v)} no longer allowed`);
    }

    const oldObject = branch(before, oldRoot, 'object');
    const newObject = branch(after, newRoot, 'object');
    if (oldObject && newObject) compareObjects(oldObject, newObject, path, report);
    const oldArray = branch(before, oldRoot, 'array');
    const newArray = branch(after, newRoot, 'array');
    if (oldArray?.items !== undefined && newArray?.items !== undefined)
      compare(asNode(oldArray.items as Schema), asNode(newArray.items as Schema), `${path}[]`);
    inProgress.delete(key);
  };

  const compareObjects = (before: Node, after: Node, path: string, report: (message: string) => void) => {
    const oldProps = (before.properties ?? {}) as Record<string, Schema>;
    const newProps = (after.properties ?? {}) as Record<string, Schema>;
    const oldRequired = new Set((before.required ?? []) as string[]);
    const newRequired = new Set((after.required ?? []) as string[]);
    for (const name of Object.keys(oldProps)) {
      if (!(name in newProps)) report(`property "${name}" removed`);
      else compare(asNode(oldProps[name]), asNode(newProps[name]), `${path}.${name}`);
    }
    for (const name of newRequired) {
      if (oldRequired.has(name)) continue;
      report(name in oldProps ? `property "${name}" became required` : `required property "${name}" added`);
    }
    const oldClosed = before.additionalProperties === false;
    const newClosed = after.additionalProperties === false;
    if (oldClosed) {
      for (const name of Object.keys(newProps))
        if (!(name in oldProps) && !newRequired.has(name))
          report(`property "${name}" added to a closed object`);
    } else if (newClosed) report('no longer accepts additional properties');
    if (isSchema(before.additionalProperties) && isSchema(after.additionalProperties))
      compare(asNode(before.additionalProperties), asNode(after.additionalProperties), `${path}.*`);
  };

  compare(oldRoot, newRoot, '$');
  return changes;
}

const asNode = (schema: Schema): Node => (schema === true ? {} : schema === false ? { not: {} } : schema);
const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null;

/** Follows local `$ref`s (`#/$defs/X`, `#/definitions/X`, any JSON pointer into the same document). */
function deref(node: Node, root: Node, depth = 0): Node {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  if (!ref.startsWith('#') || depth > 50) throw new Error(`cannot follow $ref ${ref}`);
  let target: unknown = root;
  for (const part of ref.slice(1).split('/').filter(Boolean)) {
    target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (!isSchema(target)) throw new Error(`$ref ${ref} does not resolve`);
  return deref(asNode(target), root, depth + 1);
}

const alternatives = (node: Node) => [
  ...((node.anyOf ?? []) as Schema[]),
  ...((node.oneOf ?? []) as Schema[]),
];
const jsonType = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : Number.isInteger(value)
        ? 'integer'
        : typeof value;

/** The JSON types a schema accepts; `*` when it does not say. */
function typesOf(node: Node, root: Node): Set<string> {
  if (node.not !== undefined && Object.keys(node).length === 1) return new Set();
  if (typeof node.type === 'string') return new Set([node.type]);
  if (Array.isArray(node.type)) return new Set(node.type as string[]);
  if ('const' in node) return new Set([jsonType(node.const)]);
  if (Array.isArray(node.enum)) return new Set(node.enum.map(jsonType));
  const alts = alternatives(node);
  if (alts.length) {
    const types = new Set<string>();
    for (const alt of alts) for (const t of typesOf(deref(asNode(alt), root), root)) types.add(t);
    return types.has(ANY) ? new Set([ANY]) : types;
  }
  return new Set([ANY]);
}

/** The only values a schema accepts (const, enum, or a union of those and null), else undefined. */
function valuesOf(node: Node, root: Node): Set<unknown> | undefined {
  if ('const' in node) return new Set([node.const]);
  if (Array.isArray(node.enum)) return new Set(node.enum);
  const alts = alternatives(node);
  if (!alts.length) return undefined;
  const values = new Set<unknown>();
  for (const alt of alts) {
    const resolved = deref(asNode(alt), root);
    const own = resolved.type === 'null' ? new Set([null]) : valuesOf(resolved, root);
    if (!own) return undefined;
    for (const v of own) values.add(v);
  }
  return values;
}

/** The object (or array) form of a schema, looking inside anyOf/oneOf (e.g. a nullable object). */
function branch(node: Node, root: Node, type: 'object' | 'array'): Node | undefined {
  const types = typesOf(node, root);
  if (!alternatives(node).length) return types.has(type) ? node : undefined;
  for (const alt of alternatives(node)) {
    const found = branch(deref(asNode(alt), root), root, type);
    if (found) return found;
  }
  return undefined;
}

/** A list of values for a message; a long one (a time zone enum) by its size and first few. */
function listed(values: unknown[]): string {
  const shown = values.slice(0, 5).map(String).join(', ');
  return values.length > 10 ? `${values.length} values (${shown}, …)` : values.map(String).join(', ');
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
const show = (types: Set<string>) => (types.size ? [...types].sort().join('|') : 'nothing');
