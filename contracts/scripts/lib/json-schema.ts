import { z } from 'zod';
import { canonical } from './canonical.js';

export type Json = Record<string, unknown>;
export type Io = 'input' | 'output';
export type Target = 'draft-2020-12' | 'draft-07';

/**
 * Output objects that zod strips (plain `z.object`) are left open: readers of our events and
 * responses must tolerate fields added later, and Dapr adds its own attributes to every
 * CloudEvent. Strict objects (`z.strictObject`) keep `additionalProperties: false`.
 */
function openStrippedObjects(ctx: { zodSchema: unknown; jsonSchema: Json }) {
  const def = (ctx.zodSchema as { _zod: { def: { type: string; catchall?: unknown } } })._zod.def;
  if (def.type === 'object' && def.catchall === undefined) delete ctx.jsonSchema.additionalProperties;
}

/** zod → JSON Schema; subschemas with a `.meta({ id })` land in `$defs` (draft-07: `definitions`). */
export function toJsonSchema(schema: z.ZodType, io: Io, target: Target = 'draft-2020-12'): Json {
  return z.toJSONSchema(schema, {
    io,
    target,
    override: io === 'output' ? openStrippedObjects : undefined,
  }) as Json;
}

/** Calls `fn` on every object in `value` (depth first, the object before its children). */
export function walk(value: unknown, fn: (node: Json) => void): void {
  if (Array.isArray(value)) for (const item of value) walk(item, fn);
  else if (value !== null && typeof value === 'object') {
    fn(value as Json);
    for (const child of Object.values(value)) walk(child, fn);
  }
}

/** Every `$ref` in `value`. */
export function refsIn(value: unknown): string[] {
  const refs: string[] = [];
  walk(value, (node) => {
    if (typeof node.$ref === 'string') refs.push(node.$ref);
  });
  return refs;
}

const LOCAL_DEF = /^#\/(?:\$defs|definitions)\/([^/]+)$/;

/**
 * Collects the named subschemas of many conversions into one components section
 * (`#/components/schemas/<name>`), as OpenAPI and AsyncAPI documents want them.
 *
 * The same zod schema can read differently as input (defaults make fields optional) and as
 * output; `finish` names an id's output form `<id>` and its input form `<id>` too when both
 * read the same, else `<id>Input`.
 */
export class ComponentSchemas {
  private readonly defs = new Map<string, Json>();

  constructor(private readonly target: Target = 'draft-2020-12') {}

  /** The JSON Schema of `schema`, its named parts moved out and referenced. */
  add(schema: z.ZodType, io: Io): Json {
    const { $schema: _, $defs, definitions, ...root } = toJsonSchema(schema, io, this.target);
    const defs = ($defs ?? definitions ?? {}) as Record<string, Json>;
    for (const [id, def] of Object.entries(defs)) {
      const key = `${io}:${id}`;
      const json = this.placeholders(def, io);
      const known = this.defs.get(key);
      if (known && JSON.stringify(canonical(known)) !== JSON.stringify(canonical(json)))
        throw new Error(`two different schemas carry the id ${id}`);
      this.defs.set(key, json);
    }
    return this.placeholders(root, io);
  }

  /** A schema with its top-level `$ref` (if any) followed, e.g. to list an object's properties. */
  resolve(json: Json): Json {
    if (typeof json.$ref !== 'string') return json;
    const def = this.defs.get(json.$ref.slice(PLACEHOLDER.length));
    if (!def) throw new Error(`unknown reference ${json.$ref}`);
    return this.resolve(def);
  }

  /**
   * Names the collected schemas, points every placeholder `$ref` in `doc` at them and returns
   * the schemas `doc` reaches (directly or through other schemas), keyed by name.
   */
  finish(doc: Json, prefix: string): Record<string, Json> {
    const names = new Map<string, string>();
    for (const key of this.defs.keys()) {
      const [io, id] = key.split(':') as [Io, string];
      const other = this.defs.get(`${io === 'input' ? 'output' : 'input'}:${id}`);
      const same =
        !other || JSON.stringify(canonical(other)) === JSON.stringify(canonical(this.defs.get(key)));
      names.set(key, io === 'input' && !same ? `${id}Input` : id);
    }
    const rename = (node: Json) => {
      if (typeof node.$ref === 'string' && node.$ref.startsWith(PLACEHOLDER))
        node.$ref = `${prefix}${names.get(node.$ref.slice(PLACEHOLDER.length))}`;
    };
    const schemas: Record<string, Json> = {};
    const pending = refsIn(doc).filter((ref) => ref.startsWith(PLACEHOLDER));
    walk(doc, rename);
    for (let ref = pending.pop(); ref !== undefined; ref = pending.pop()) {
      const key = ref.slice(PLACEHOLDER.length);
      const name = names.get(key)!;
      if (name in schemas) continue;
      const def = structuredClone(this.defs.get(key)!);
      pending.push(...refsIn(def).filter((r) => r.startsWith(PLACEHOLDER)));
      walk(def, rename);
      schemas[name] = def;
    }
    return schemas;
  }

  private placeholders(json: Json, io: Io): Json {
    const copy = structuredClone(json);
    walk(copy, (node) => {
      if (typeof node.$ref !== 'string') return;
      const id = LOCAL_DEF.exec(node.$ref)?.[1];
      if (id === undefined) throw new Error(`unexpected $ref ${node.$ref}`);
      node.$ref = `${PLACEHOLDER}${io}:${id}`;
    });
    return copy;
  }
}

const PLACEHOLDER = '#/zod/';
