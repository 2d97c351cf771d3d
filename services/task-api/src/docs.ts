import { contractDocuments } from '@taskstream/contracts';
import { cspAllowingEval } from '@taskstream/platform';
import { Router } from 'express';

/**
 * The published contracts at the paths API tools look for first: `/openapi.json` (OpenAPI 3.1)
 * and `/asyncapi.yaml` (AsyncAPI 3). The rendered references at `/docs/` and `/docs/asyncapi/`
 * are static pages of the web UI that load these.
 */
export function docsRoutes(): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(contractDocuments.openapi);
  });
  // AsyncAPI's renderer compiles schema validators with eval; the other pages keep the strict policy.
  router.use('/docs/asyncapi', cspAllowingEval());
  router.get('/asyncapi.yaml', (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.type('application/yaml').sendFile(contractDocuments.asyncapi);
  });
  return router;
}
