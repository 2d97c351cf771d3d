import { type BreakingChange, breakingChanges, type Schema } from './compat.js';

/**
 * Backward compatibility of one OpenAPI document to the next, as a client of the old one sees it:
 * every operation it calls still exists, every request it sends is still accepted, every success
 * response it reads still parses. Schemas are compared with `breakingChanges`, keeping only the
 * direction that matters: a request may accept more (a new optional property, even on a closed
 * object), a response may promise more (a property that became required).
 */
type Doc = { paths?: Record<string, Record<string, Operation>>; components?: unknown };
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
/** The server reads requests: accepting a property it refused before breaks no client. */
const HARMLESS_IN_REQUESTS = /added to a closed object/;
/**
 * Clients read responses: a property that is now always there, or a value now limited to fewer
 * choices, breaks none of them.
 */
const HARMLESS_IN_RESPONSES =
  /became required|^required property .* added|^now limited to|no longer allowed$/;

export function apiBreakingChanges(oldDoc: Doc, newDoc: Doc): BreakingChange[] {
  const changes: BreakingChange[] = [];
  const inDoc = (doc: Doc, schema: Schema): Schema =>
    typeof schema === 'object' ? { ...schema, components: doc.components } : schema;
  const compare = (where: string, before: Schema, after: Schema, ignore: RegExp) => {
    for (const change of breakingChanges(inDoc(oldDoc, before), inDoc(newDoc, after)))
      if (!ignore.test(change.message))
        changes.push({ path: `${where} ${change.path}`, message: change.message });
  };

  for (const [path, oldOps] of Object.entries(oldDoc.paths ?? {})) {
    for (const method of METHODS) {
      const before = oldOps[method];
      if (!before) continue;
      const op = `${method.toUpperCase()} ${path}`;
      const after = newDoc.paths?.[path]?.[method];
      if (!after) {
        changes.push({ path: op, message: 'operation removed' });
        continue;
      }
      const oldParams = new Map((before.parameters ?? []).map((p) => [`${p.in}:${p.name}`, p]));
      for (const p of after.parameters ?? []) {
        const old = oldParams.get(`${p.in}:${p.name}`);
        if (p.required && !old?.required)
          changes.push({ path: `${op} ${p.in} ${p.name}`, message: 'parameter became required' });
      }
      for (const key of oldParams.keys())
        if (!(after.parameters ?? []).some((p) => `${p.in}:${p.name}` === key))
          changes.push({ path: `${op} ${key.replace(':', ' ')}`, message: 'parameter removed' });

      if (after.requestBody?.required && !before.requestBody?.required)
        changes.push({ path: `${op} body`, message: 'request body became required' });
      for (const [type, media] of Object.entries(before.requestBody?.content ?? {})) {
        const next = after.requestBody?.content?.[type];
        if (!next) changes.push({ path: `${op} body`, message: `no longer accepts ${type}` });
        else if (media.schema && next.schema)
          compare(`${op} body`, media.schema, next.schema, HARMLESS_IN_REQUESTS);
      }

      for (const [status, response] of Object.entries(before.responses ?? {})) {
        if (!status.startsWith('2')) continue;
        const next = after.responses?.[status];
        if (!next) {
          changes.push({ path: `${op} ${status}`, message: 'success response removed' });
          continue;
        }
        for (const [type, media] of Object.entries(response.content ?? {})) {
          const nextMedia = next.content?.[type];
          if (!nextMedia) changes.push({ path: `${op} ${status}`, message: `no longer answers ${type}` });
          else if (media.schema && nextMedia.schema)
            compare(`${op} ${status}`, media.schema, nextMedia.schema, HARMLESS_IN_RESPONSES);
        }
      }
    }
  }
  return changes;
}
