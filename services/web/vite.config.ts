import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * The API reference pages (public/docs/) render with swagger-ui and AsyncAPI's standalone bundle.
 * Their prebuilt browser files are copied from node_modules into dist/docs/vendor/ at build time,
 * so the server needs neither package at run time and the pages load nothing from elsewhere.
 */
const DOCS_VENDOR: Record<string, string> = {
  'swagger-ui-bundle.js': 'swagger-ui-dist/swagger-ui-bundle.js',
  'swagger-ui.css': 'swagger-ui-dist/swagger-ui.css',
  'asyncapi-standalone.js': '@asyncapi/react-component/browser/standalone/index.js',
  'asyncapi.css': '@asyncapi/react-component/styles/default.min.css',
};

function docsVendor(): Plugin {
  return {
    name: 'taskstream-docs-vendor',
    apply: 'build',
    generateBundle() {
      for (const [fileName, from] of Object.entries(DOCS_VENDOR))
        this.emitFile({
          type: 'asset',
          fileName: `docs/vendor/${fileName}`,
          source: readFileSync(require.resolve(from)),
        });
    },
  };
}

/**
 * Builds the browser app to services/web/dist, which task-api serves at `/`. The root is this
 * folder whichever directory the build runs from (`npx vite build --config services/web/vite.config.ts`).
 */
export default defineConfig({
  root,
  base: '/',
  plugins: [preact(), docsVendor()],
  // Workspace packages (`@taskstream/sync/client`) are bundled from their TypeScript sources, through
  // the same package exports TypeScript and Node use, so neither a build of them nor a relative path is needed.
  resolve: { conditions: ['@taskstream/source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    // `npm run dev` in this folder: the API and WebSocket of a running embedded start.
    proxy: {
      '/api': 'http://localhost:8080',
      '/ws': { target: 'ws://localhost:8080', ws: true },
    },
  },
});
