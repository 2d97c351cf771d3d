// Two projects: pure-logic unit tests, and integration tests against a real PostgreSQL
// (started once by the global setup unless DATABASE_URL points at one).
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true, diagnostics: false }] },
  moduleNameMapper: {
    '^@taskstream/([a-z-]+)/test-support$': '<rootDir>/services/$1/src/test-support/index.ts',
    '^@taskstream/platform/live-protocol$': '<rootDir>/services/platform/src/live/protocol.ts',
    '^@taskstream/sync/client$': '<rootDir>/services/sync/src/client.ts',
    '^@taskstream/contracts$': '<rootDir>/contracts/src/index.ts',
    '^@taskstream/recurrence$': '<rootDir>/packages/recurrence/src/index.ts',
    '^@taskstream/([a-z-]+)$': '<rootDir>/services/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // Runtime data of the local stack and the embedded start (the Dapr scheduler's etcd writes
  // `.snap` files, which Jest would take for obsolete snapshots).
  modulePathIgnorePatterns: ['<rootDir>/.stack/', '<rootDir>/.data/', '<rootDir>/.k8s/'],
};

export default {
  // A global option in Jest 30 (ignored per project): generous, only to catch hangs; e2e tests set their own.
  testTimeout: 60000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{contracts,packages,services,scripts}/**/*.unit.test.ts'],
    },
    {
      ...common,
      displayName: 'int',
      testMatch: ['<rootDir>/{contracts,packages,services,scripts}/**/*.int.test.ts'],
      globalSetup: '<rootDir>/services/platform/src/test-support/global-setup.ts',
      globalTeardown: '<rootDir>/services/platform/src/test-support/global-teardown.ts',
    },
    // schemathesis over the served OpenAPI document (`npm run test:fuzz`; needs scripts/fuzz/venv.sh).
    {
      ...common,
      displayName: 'fuzz',
      testMatch: ['<rootDir>/services/**/*.fuzz.test.ts'],
      globalSetup: '<rootDir>/services/platform/src/test-support/global-setup.ts',
      globalTeardown: '<rootDir>/services/platform/src/test-support/global-teardown.ts',
    },
    // The Helm chart's rendered objects; needs the helm that `npm run chart:check` builds.
    { ...common, displayName: 'chart', testMatch: ['<rootDir>/scripts/chart-check/*.check.test.ts'] },
    {
      ...common,
      displayName: 'browser',
      testMatch: ['<rootDir>/services/**/*.browser.test.ts'],
      globalSetup: '<rootDir>/services/platform/src/test-support/global-setup.ts',
      globalTeardown: '<rootDir>/services/platform/src/test-support/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/{contracts,packages,services,scripts}/**/*.e2e.test.ts'],
      globalSetup: '<rootDir>/scripts/stack/e2e-global-setup.ts',
    },
    // Through the local Kubernetes node (`npm run test:k8s`: after k8s:up and the chart's install,
    // run inside the node's network namespace).
    // Node 20 here: the Node 22 pieces @kubernetes/client-node's undici needs (scripts/k8s/node20-compat.cjs).
    {
      ...common,
      displayName: 'k8s',
      testMatch: ['<rootDir>/scripts/k8s/*.k8s.test.ts'],
      setupFiles: ['<rootDir>/scripts/k8s/node20-compat.cjs'],
    },
  ],
};
