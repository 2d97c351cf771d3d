import type { z } from 'zod';
import { type RouteSpec, Routes, SyncMessage } from '../../src/api.js';
import { ErrorBody } from '../../src/common.js';
import { ComponentSchemas, type Json } from './json-schema.js';

export const API_VERSION = '1.0.0';

const STATUS: Record<string, string> = {
  101: 'Switching Protocols: the connection is a WebSocket from here on',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'The request does not match the schema (`validation_failed`, details list the issues)',
  401: 'Missing, invalid or expired token',
  403: 'The caller is not an admin',
  404: 'No such resource, or it belongs to another user',
  409: 'Conflict, e.g. the e-mail is taken',
  412: 'If-Match names another version than the current one',
  422: 'The Idempotency-Key was used before with another body',
  503: 'Not ready',
  default: 'Unexpected error',
};

const HEADER_SCHEMAS: Record<string, Json> = {
  'Idempotency-Key': { type: 'string', minLength: 1, maxLength: 255 },
  // As task-api reads it (routes.ts `expectedVersion`): `3`, `"3"` or `W/"3"`; anything else is a 400.
  'If-Match': {
    type: 'string',
    description: 'the task version, e.g. `3` (quotes allowed)',
    pattern: '^[ \\t]*(?:W/)?(?:"[0-9]+"|[0-9]+)[ \\t]*$',
  },
  // A live stream's position as platform/live/protocol.ts parsePosition reads it (empty: absent).
  'Last-Event-ID': { type: 'string', pattern: '^[0-9]{0,15}$' },
};

/** `post /api/tasks/{id}/complete` → `postTasksByIdComplete`. */
export function operationId(route: Pick<RouteSpec, 'method' | 'path'>): string {
  const words = route.path
    .split('/')
    .filter((s) => s && s !== 'api')
    .flatMap((s) => (s.startsWith('{') ? ['by', s.slice(1, -1)] : s.split(/[-_.]/)));
  return [route.method, ...words].map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1))).join('');
}

const tagOf = (path: string) =>
  path.startsWith('/api/') ? path.split('/')[2] : path.startsWith('/ws/') ? 'sync' : 'operations';

/** The OpenAPI 3.1 document of every route in `Routes`. */
export function buildOpenApi(routes: RouteSpec[] = Routes): Json {
  const schemas = new ComponentSchemas('draft-2020-12');
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    if (paths[route.path][route.method]) throw new Error(`${route.method} ${route.path} is listed twice`);
    paths[route.path][route.method] = operation(route, schemas);
  }
  const doc: Json = {
    openapi: '3.1.0',
    info: {
      title: 'taskstream API',
      version: API_VERSION,
      description:
        'The public REST surface of taskstream. JSON is snake_case; every error is ' +
        '`{"error": {"code", "message", "details"}}` with a 4xx/5xx status. A user never sees ' +
        "another user's data (404, not 403). Generated from contracts/src by `npm run contracts:generate`; do not edit.",
    },
    servers: [{ url: 'http://localhost:8080', description: 'embedded runtime (`npm start`)' }],
    security: [{ bearerAuth: [] }],
    tags: [...new Set(routes.map((r) => tagOf(r.path)))].sort().map((name) => ({ name })),
    paths,
  };
  doc.components = {
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'from /api/auth/login or /api/auth/register',
      },
      tokenQuery: {
        type: 'apiKey',
        in: 'query',
        name: 'token',
        description: 'the same JWT, for WebSocket clients that cannot set headers',
      },
    },
    schemas: schemas.finish(doc, '#/components/schemas/'),
  };
  return doc;
}

function operation(route: RouteSpec, schemas: ComponentSchemas): Json {
  const security = route.auth === 'none' ? [] : route.websocket ? [{ tokenQuery: [] }] : undefined;
  const description = [
    route.auth === 'admin' ? 'Admin only (role `admin` in the token).' : undefined,
    route.websocket
      ? 'A WebSocket upgrade; the server then sends JSON frames (`x-websocket-message`).'
      : undefined,
  ].filter(Boolean);
  const parameters = [
    ...pathParameters(route, schemas),
    ...objectParameters(route.query, 'query', schemas).filter(
      (p) => !(route.websocket && p.name === 'token'),
    ),
    ...Object.entries(route.headers ?? {}).map(([name, text]) => ({
      name,
      in: 'header',
      required: route.requiredHeaders?.includes(name) ?? false,
      description: text,
      schema: HEADER_SCHEMAS[name] ?? { type: 'string' },
    })),
  ];
  return {
    operationId: operationId(route),
    summary: route.summary,
    description: description.length ? description.join(' ') : undefined,
    tags: [tagOf(route.path)],
    security,
    parameters: parameters.length ? parameters : undefined,
    requestBody: route.body
      ? { required: true, content: { 'application/json': { schema: schemas.add(route.body, 'input') } } }
      : undefined,
    responses: responses(route, schemas),
    'x-websocket-message': route.websocket ? schemas.add(SyncMessage, 'output') : undefined,
  };
}

function pathParameters(route: RouteSpec, schemas: ComponentSchemas): Json[] {
  const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const described = route.params ? objectParameters(route.params, 'path', schemas) : [];
  for (const p of described)
    if (!names.includes(p.name as string)) throw new Error(`${route.path} has no parameter {${p.name}}`);
  return names.map(
    (name) =>
      described.find((p) => p.name === name) ?? {
        name,
        in: 'path',
        required: true,
        schema: { type: 'string' },
      },
  );
}

/** One parameter per property of an object schema (query or path). */
function objectParameters(
  schema: z.ZodTypeAny | undefined,
  where: 'query' | 'path',
  schemas: ComponentSchemas,
): Json[] {
  if (!schema) return [];
  const object = schemas.resolve(schemas.add(schema, 'input'));
  const required = (object.required as string[] | undefined) ?? [];
  return Object.entries((object.properties ?? {}) as Record<string, Json>).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    description: property.description,
    schema: property,
  }));
}

function responses(route: RouteSpec, schemas: ComponentSchemas): Json {
  const out: Record<string, Json> = {};
  const error = (status: string) => {
    out[status] ??= {
      description: STATUS[status],
      content: { 'application/json': { schema: schemas.add(ErrorBody, 'output') } },
    };
  };
  for (const [status, body] of Object.entries(route.responses)) {
    const description = STATUS[status] ?? `HTTP ${status}`;
    if (body === null) out[status] = { description };
    else if (body === 'text')
      out[status] = {
        description,
        content: Object.fromEntries(
          (route.textTypes ?? ['text/plain']).map((type) => [type, { schema: { type: 'string' } }]),
        ),
      };
    else
      out[status] = { description, content: { 'application/json': { schema: schemas.add(body, 'output') } } };
  }
  if (route.body || route.query) error('400');
  if (route.auth !== 'none') error('401');
  if (route.auth === 'admin') error('403');
  error('default');
  return out;
}
