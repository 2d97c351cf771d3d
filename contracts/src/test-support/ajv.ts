import { createRequire } from 'node:module';
import type { Ajv, Options } from 'ajv';

// ajv and ajv-formats are CommonJS; createRequire keeps their default exports usable from ESM.
const require = createRequire(import.meta.url);
type AjvClass = new (options?: Options) => Ajv;
const Ajv2020 = require('ajv/dist/2020').default as AjvClass;
const Ajv07 = require('ajv').default as AjvClass;
const addFormats = require('ajv-formats').default as (ajv: Ajv) => Ajv;

/**
 * An ajv for JSON Schema draft 2020-12 (or draft-07), with the standard formats checked and the
 * contracts' own format known: `recurrence-rule` names a grammar a pattern cannot hold
 * (packages/recurrence checks it), so here it is an annotation, as unknown formats are in 2020-12.
 */
export function makeAjv(draft: '2020-12' | '07' = '2020-12', options: { strict?: boolean } = {}): Ajv {
  const AjvOf = draft === '07' ? Ajv07 : Ajv2020;
  return addFormats(new AjvOf({ allErrors: true, strict: options.strict ?? true })).addFormat(
    'recurrence-rule',
    true,
  );
}
