import { breakingChanges, type Schema } from '../scripts/lib/compat.js';
import { eventJsonSchema } from '../scripts/lib/events.js';
import { latestRelease } from '../scripts/lib/releases.js';

const object = (
  properties: Record<string, Schema>,
  required: string[] = [],
  extra: Record<string, unknown> = {},
) => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const str = { type: 'string' };
const nullable = (s: Schema) => ({ anyOf: [s, { type: 'null' }] });
const paths = (old: Schema, next: Schema) => breakingChanges(old, next).map((c) => `${c.path}: ${c.message}`);

describe('breakingChanges', () => {
  const base = object({ id: str, title: str, note: str }, ['id', 'title']);

  test('nothing changed, or only descriptions and bounds: compatible', () => {
    expect(paths(base, base)).toEqual([]);
    expect(
      paths(
        base,
        object({ id: { ...str, description: 'the id', maxLength: 9 }, title: str, note: str }, [
          'id',
          'title',
        ]),
      ),
    ).toEqual([]);
  });

  test('an optional property added to an open object: compatible', () => {
    expect(paths(base, object({ id: str, title: str, note: str, colour: str }, ['id', 'title']))).toEqual([]);
  });

  test('a required property no longer required: compatible', () => {
    expect(paths(base, object({ id: str, title: str, note: str }, ['id']))).toEqual([]);
  });

  test('a removed property is breaking', () => {
    expect(paths(base, object({ id: str, title: str }, ['id', 'title']))).toEqual([
      '$: property "note" removed',
    ]);
  });

  test('an optional property made required is breaking, and so is a new required one', () => {
    expect(paths(base, object({ id: str, title: str, note: str }, ['id', 'title', 'note']))).toEqual([
      '$: property "note" became required',
    ]);
    expect(
      paths(base, object({ id: str, title: str, note: str, owner: str }, ['id', 'title', 'owner'])),
    ).toEqual(['$: required property "owner" added']);
  });

  test('a changed type is breaking, also integer → number and adding or dropping null', () => {
    expect(paths(base, object({ id: { type: 'integer' }, title: str, note: str }, ['id', 'title']))).toEqual([
      '$.id: type changed from string to integer',
    ]);
    expect(paths({ type: 'integer' }, { type: 'number' })).toEqual([
      '$: type changed from integer to number',
    ]);
    expect(paths(base, object({ id: str, title: nullable(str), note: str }, ['id', 'title']))).toEqual([
      '$.title: type changed from string to null|string',
    ]);
    expect(paths(nullable(str), str)).toEqual(['$: type changed from null|string to string']);
    expect(paths({}, str)).toEqual(['$: type changed from * to string']);
  });

  test('a dropped enum value is breaking; an added one is not', () => {
    const status = (...values: string[]) => ({ type: 'string', enum: values });
    expect(paths(status('a', 'b'), status('a'))).toEqual(['$: value "b" no longer allowed']);
    expect(paths(status('a'), status('a', 'b'))).toEqual([]);
    expect(paths(str, status('a'))).toEqual(['$: now limited to a']);
    // A long list (a time zone enum) is named by its size and first values.
    const zones = Array.from({ length: 12 }, (_, i) => `Zone/${i}`);
    expect(paths(str, status(...zones))).toEqual([
      '$: now limited to 12 values (Zone/0, Zone/1, Zone/2, Zone/3, Zone/4, …)',
    ]);
    expect(paths({ type: 'string', const: '1.0' }, { type: 'string', const: '2.0' })).toEqual([
      '$: value "1.0" no longer allowed',
    ]);
  });

  test('closed objects: a new property, or closing an open object, is breaking', () => {
    const closed = object({ id: str }, ['id'], { additionalProperties: false });
    expect(paths(closed, object({ id: str, x: str }, ['id'], { additionalProperties: false }))).toEqual([
      '$: property "x" added to a closed object',
    ]);
    expect(paths(object({ id: str }, ['id']), closed)).toEqual([
      '$: no longer accepts additional properties',
    ]);
  });

  test('changes are found through $refs, nullable objects, arrays and records', () => {
    const doc = (item: Schema) => ({
      $defs: { Item: item },
      type: 'object',
      properties: {
        one: nullable({ $ref: '#/$defs/Item' }),
        many: { type: 'array', items: { $ref: '#/$defs/Item' } },
        byKey: { type: 'object', additionalProperties: { $ref: '#/$defs/Item' } },
      },
      required: ['one', 'many', 'byKey'],
    });
    expect(paths(doc(object({ a: str, b: str })), doc(object({ a: { type: 'boolean' } })))).toEqual([
      '$.one.a: type changed from string to boolean',
      '$.one: property "b" removed',
      '$.many[].a: type changed from string to boolean',
      '$.many[]: property "b" removed',
      '$.byKey.*.a: type changed from string to boolean',
      '$.byKey.*: property "b" removed',
    ]);
  });

  test('a recursive schema terminates', () => {
    const tree = {
      $defs: { Node: object({ children: { type: 'array', items: { $ref: '#/$defs/Node' } } }) },
      $ref: '#/$defs/Node',
    };
    expect(paths(tree, tree)).toEqual([]);
  });

  test('on a real event schema: a field dropped from the task is caught', () => {
    type Obj = { properties: Record<string, Obj>; required: string[]; type: string };
    const current = eventJsonSchema('task.created') as unknown as Obj & { $defs: Record<string, Obj> };
    const changed = structuredClone(current);
    delete changed.$defs.Task.properties.priority;
    changed.$defs.Task.required = changed.$defs.Task.required.filter((n) => n !== 'priority');
    changed.properties.data.properties.sequence.type = 'string';
    expect(paths(current, current)).toEqual([]);
    expect(paths(current, changed)).toEqual([
      '$.data.sequence: type changed from integer to string',
      '$.data.payload.task: property "priority" removed',
    ]);
  });

  test('against the newest release kept (the baseline CI has without any git ref): a broken event fails', () => {
    // As generated.unit.test.ts compares: the release's file is the old schema, the current the new.
    const release = latestRelease()!;
    const published = release.events.get('task.created.v1.schema.json') as Schema;
    const current = eventJsonSchema('task.created') as unknown as {
      $defs: { Task: { properties: Record<string, Schema> } };
    };
    expect(paths(published, current as unknown as Schema)).toEqual([]);
    const broken = structuredClone(current);
    broken.$defs.Task.properties.priority = { type: 'number' };
    expect(paths(published, broken as unknown as Schema)).toEqual([
      expect.stringMatching(/^\$\.data\.payload\.task\.priority: /),
    ]);
  });
});
