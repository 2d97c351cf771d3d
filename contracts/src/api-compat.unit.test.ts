import { apiBreakingChanges } from '../scripts/lib/api-compat.js';

const task = {
  type: 'object',
  properties: { id: { type: 'string' }, title: { type: 'string' }, note: { type: 'string' } },
  required: ['id', 'title'],
};
const body = {
  type: 'object',
  properties: { title: { type: 'string' } },
  required: ['title'],
  additionalProperties: false,
};
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
function doc({
  taskSchema = task as object,
  bodySchema = body as object,
  parameters = [] as object[],
  withDelete = true,
} = {}) {
  return {
    components: { schemas: { Task: taskSchema, Body: bodySchema } },
    paths: {
      '/api/tasks': {
        post: {
          parameters,
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/Body' }) },
          responses: { 201: json({ $ref: '#/components/schemas/Task' }), 400: json({ type: 'object' }) },
        },
        ...(withDelete ? { delete: { responses: { 204: {} } } } : {}),
      },
    },
  };
}
const messages = (old: object, next: object) =>
  apiBreakingChanges(old, next).map((c) => `${c.path}: ${c.message}`);

test('the same document, or one that accepts and promises more: compatible', () => {
  expect(messages(doc(), doc())).toEqual([]);
  const moreBody = { ...body, properties: { ...body.properties, colour: { type: 'string' } } };
  const moreTask = { ...task, required: ['id', 'title', 'note'] };
  const optionalParam = [{ name: 'dry_run', in: 'query', required: false }];
  expect(
    messages(doc(), doc({ bodySchema: moreBody, taskSchema: moreTask, parameters: optionalParam })),
  ).toEqual([]);
});

test('a removed response property, a new required body property, a removed operation and a new required parameter are breaking', () => {
  const lessTask = { ...task, properties: { id: task.properties.id, title: task.properties.title } };
  const stricterBody = {
    ...body,
    properties: { ...body.properties, owner: { type: 'string' } },
    required: ['title', 'owner'],
  };
  expect(
    messages(
      doc(),
      doc({
        taskSchema: lessTask,
        bodySchema: stricterBody,
        parameters: [{ name: 'tenant', in: 'header', required: true }],
        withDelete: false,
      }),
    ),
  ).toEqual([
    'POST /api/tasks header tenant: parameter became required',
    'POST /api/tasks body $: required property "owner" added',
    'POST /api/tasks 201 $: property "note" removed',
    'DELETE /api/tasks: operation removed',
  ]);
});

test('a response value limited to fewer choices breaks no reader; a request field limited so is breaking', () => {
  const limited = { type: 'string', enum: ['pending', 'completed'] };
  const withStatus = (status: object) => ({
    taskSchema: { ...task, properties: { ...task.properties, status } },
    bodySchema: { ...body, properties: { ...body.properties, status } },
  });
  expect(messages(doc(withStatus({ type: 'string' })), doc(withStatus(limited)))).toEqual([
    'POST /api/tasks body $.status: now limited to pending, completed',
  ]);
});
