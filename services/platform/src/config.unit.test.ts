import { ConfigError, loadConfig } from './config.js';

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  test('defaults: embedded runtime on 127.0.0.1:8080, retries 1 s / 5 s / 25 s, 1 MiB bodies', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      TASKSTREAM_RUNTIME: 'embedded',
      HOST: '127.0.0.1',
      PORT: 8080,
      LOG_LEVEL: 'info',
      DATABASE_POOL_SIZE: 20,
      DATA_DIR: '.data',
      EMBEDDED_PG_PORT: 54329,
      JWT_ISSUER: 'taskstream',
      JWT_AUDIENCE: 'taskstream',
      JWT_TTL_SECONDS: 43200,
      BODY_LIMIT_BYTES: 1024 * 1024,
      RETRY_DELAYS_MS: [1000, 5000, 25000],
      SEED_DEMO_USERS: true,
      MIGRATE_ON_START: true,
      SHUTDOWN_TIMEOUT_MS: 10000,
      DAPR_HOST: '127.0.0.1',
      DAPR_HTTP_PORT: 3500,
      PUBSUB_NAME: 'pubsub',
      STATESTORE_NAME: 'statestore',
      METRICS_ENABLED: true,
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.JWT_SECRET).toBeUndefined();
  });

  test('reads and converts what is set', () => {
    const config = loadConfig({
      TASKSTREAM_RUNTIME: 'dapr',
      APP_ID: 'audit',
      PORT: '3104',
      DATABASE_URL: 'postgresql://u:p@db:5432/taskstream',
      RETRY_DELAYS_MS: '100,200,400',
      SEED_DEMO_USERS: 'no',
      MIGRATE_ON_START: '0',
      METRICS_ENABLED: 'yes',
    });
    expect(config).toMatchObject({
      TASKSTREAM_RUNTIME: 'dapr',
      APP_ID: 'audit',
      PORT: 3104,
      RETRY_DELAYS_MS: [100, 200, 400],
      SEED_DEMO_USERS: false,
      MIGRATE_ON_START: false,
      METRICS_ENABLED: true,
    });
  });

  test('an empty variable counts as unset; unknown variables are ignored', () => {
    const config = loadConfig({ PORT: '', JWT_SECRET: '', PATH: '/usr/bin', HOME: '/root' });
    expect(config.PORT).toBe(8080);
    expect(config.JWT_SECRET).toBeUndefined();
  });

  test.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['TASKSTREAM_RUNTIME', 'kubernetes'],
    ['APP_ID', 'billing'],
    ['LOG_LEVEL', 'verbose'],
    ['DATABASE_URL', 'mysql://localhost/taskstream'],
    ['DATABASE_POOL_SIZE', '0'],
    ['JWT_SECRET', 'too-short'],
    ['JWKS_URL', 'not a url'],
    ['RETRY_DELAYS_MS', '1s,5s'],
    ['RETRY_DELAYS_MS', '1000,,5000'],
    ['SEED_DEMO_USERS', 'maybe'],
    ['BODY_LIMIT_BYTES', '12'],
    ['SMTP_URL', 'http://mail'],
    ['JWT_TTL_SECONDS', '1.5'],
  ])('a bad %s (%j) is a ConfigError naming it', (variable, value) => {
    const error = configError({ [variable]: value });
    expect(error.name).toBe('ConfigError');
    expect(error.issues.map((i) => i.variable)).toEqual([variable]);
    expect(error.message).toContain(variable);
  });

  test('every bad variable is named at once', () => {
    const error = configError({ PORT: '-1', LOG_LEVEL: 'loud', RETRY_DELAYS_MS: 'soon' });
    expect(error.issues.map((i) => i.variable).sort()).toEqual(['LOG_LEVEL', 'PORT', 'RETRY_DELAYS_MS']);
    expect(error.message).toMatch(/PORT: .+; /);
  });

  test('the dapr runtime needs DATABASE_URL', () => {
    const error = configError({ TASKSTREAM_RUNTIME: 'dapr' });
    expect(error.issues).toEqual([
      { variable: 'DATABASE_URL', message: 'required when TASKSTREAM_RUNTIME=dapr' },
    ]);
  });

  test('production needs JWT_SECRET or JWKS_URL', () => {
    expect(configError({ NODE_ENV: 'production' }).issues[0]!.variable).toBe('JWT_SECRET');
    expect(
      loadConfig({ NODE_ENV: 'production', JWKS_URL: 'https://issuer.example/.well-known/jwks.json' })
        .NODE_ENV,
    ).toBe('production');
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET).toHaveLength(32);
  });
});
