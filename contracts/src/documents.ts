import { fileURLToPath } from 'node:url';

/**
 * The generated documents (`npm run contracts:generate`), which ship with the package: resolved
 * from src/ (tests, tsx) and dist/ (built images) alike.
 */
export const contractDocuments = {
  openapi: fileURLToPath(new URL('../generated/openapi.json', import.meta.url)),
  asyncapi: fileURLToPath(new URL('../generated/asyncapi.yaml', import.meta.url)),
};
