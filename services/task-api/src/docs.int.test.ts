import { signUp, startTestRuntime, type TestRuntime } from '@taskstream/platform/test-support';
import { createTaskApiService } from './index.js';

let rt: TestRuntime;
beforeAll(async () => {
  rt = await startTestRuntime([createTaskApiService]);
});
afterAll(() => rt.close());

describe('published contracts', () => {
  test('GET /openapi.json is the generated OpenAPI document, with every REST path', async () => {
    const { status, body, headers } = await rt.request('GET', '/openapi.json');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(body.openapi).toMatch(/^3\.1/);
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining(['/api/auth/login', '/api/auth/me', '/api/tasks', '/api/tasks/{id}']),
    );
  });

  test('GET /asyncapi.yaml is the generated AsyncAPI document', async () => {
    const response = await fetch(`${rt.url}/asyncapi.yaml`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(await response.text()).toMatch(/^asyncapi: 3\./m);
  });

  test('GET /api/auth/me answers as the spec says', async () => {
    const signedUp = await signUp(rt, {
      email: `me-${Date.now()}@example.com`,
      password: 'a long enough password',
      name: 'Me',
    });
    const me = await rt.request('GET', '/api/auth/me', { token: signedUp.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user: signedUp.user });
    expect((await rt.request('GET', '/api/auth/me')).status).toBe(401);
  });
});

test("only the AsyncAPI page's policy allows eval (its renderer compiles validators)", async () => {
  const csp = async (path: string) => (await fetch(rt.url + path)).headers.get('content-security-policy');
  expect(await csp('/docs/asyncapi/')).toMatch(/script-src 'self' 'unsafe-eval';/);
  for (const path of ['/', '/docs/', '/openapi.json', '/api/tasks'])
    expect(await csp(path)).toMatch(/script-src 'self';/);
});

describe('paths nobody serves', () => {
  // Paths API tools and crawlers try; each used to answer 200 with the web page.
  test.each([
    '/api/nope',
    '/api/tasks/x/y/z',
    '/swagger.json',
    '/openapi.yaml',
    '/api-docs',
    '/redoc',
    '/docs/nope',
    '/tasks',
    '/admin/audit',
  ])('GET %s is a JSON 404, also when the client prefers HTML', async (path) => {
    const response = await fetch(rt.url + path, { headers: { accept: 'text/html,*/*' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await response.json()).error.code).toBe('not_found');
  });
});
