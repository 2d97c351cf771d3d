import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/** Where `npm run build` puts the web UI (services/web/dist), from src/ and dist/ alike. */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

/**
 * The browser app at `/`: static files, and index.html for client-side routes. API, WebSocket,
 * health and sidecar paths are never answered with the page.
 */
export function webRoutes(dir = WEB_DIST): Router {
  const router = Router();
  if (!existsSync(`${dir}/index.html`)) return router;
  router.use(express.static(dir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheForHtml }));
  router.get(
    /^\/(?!api\/|ws\/|internal\/|dapr\/|events\/|job\/|healthz|readyz|metrics).*/,
    (req, res, next) => {
      if (!req.accepts('html')) return next();
      res.setHeader('cache-control', 'no-cache');
      res.sendFile('index.html', { root: dir });
    },
  );
  return router;
}

function noCacheForHtml(res: express.Response, path: string) {
  if (path.endsWith('.html')) res.setHeader('cache-control', 'no-cache');
}
