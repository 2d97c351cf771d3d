import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/** Where `npm run build` puts the web UI (services/web/dist), from src/ and dist/ alike. */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

/**
 * The browser app's static files: the page at `/` and its assets, and the rendered API references
 * under `/docs/`. The app routes by the URL's hash (`/#/tasks`), so no other path is the page: an
 * unknown path falls through to the JSON 404 instead of answering 200 with HTML.
 */
export function webRoutes(dir = WEB_DIST): Router {
  const router = Router();
  if (!existsSync(`${dir}/index.html`)) return router;
  router.use(
    express.static(dir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheForHtml, fallthrough: true }),
  );
  return router;
}

function noCacheForHtml(res: express.Response, path: string) {
  if (path.endsWith('.html')) res.setHeader('cache-control', 'no-cache');
}
