import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defaultClientConditions, defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Builds the browser app to services/web/dist, which task-api serves at `/`. The root is this
 * folder whichever directory the build runs from (`npx vite build --config services/web/vite.config.ts`).
 */
export default defineConfig({
  root,
  base: '/',
  plugins: [preact()],
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
