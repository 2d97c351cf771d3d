import { ConfigError, type LoadConfigOptions, loadConfig } from './config.js';

function configError(env: Record<string, string | undefined>, options?: LoadConfigOptions): ConfigError {
  try {
    loadConfig(env, options);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** A pair in the format `npx web-push generate-vapid-keys` prints (config checks only the format). */
const keys = {
  publicKey: 'BCk6IvdU5SDyeEn9yjCjMHKEedthm4SvPBh0edep66uEnzNYPMjGPGkOTl9HWfB_7O29TmjCNCYcWDbz1qPw1IE',
  privateKey: 'A'.repeat(43),
};

/** The other half of a VAPID pair, valid, so that a test of one key is about that key alone. */
function validPair(variable: string): Record<string, string> {
  if (variable === 'VAPID_PUBLIC_KEY') return { VAPID_PRIVATE_KEY: keys.privateKey };
  if (variable === 'VAPID_PRIVATE_KEY') return { VAPID_PUBLIC_KEY: keys.publicKey };
  return {};
}

describe('loadConfig', () => {
  test('SYNC_ALLOWED_ORIGINS: origins as browsers send them, nothing else', () => {
    expect(loadConfig({}).SYNC_ALLOWED_ORIGINS).toBeUndefined();
    expect(
      loadConfig({ SYNC_ALLOWED_ORIGINS: 'https://tasks.example.com, http://localhost:5173' })
        .SYNC_ALLOWED_ORIGINS,
    ).toEqual(['https://tasks.example.com', 'http://localhost:5173']);
    for (const bad of [
      'tasks.example.com',
      'https://tasks.example.com/',
      'https://Tasks.example.com',
      '*',
      'null',
    ])
      expect(configError({ SYNC_ALLOWED_ORIGINS: bad }).issues).toEqual([
        { variable: 'SYNC_ALLOWED_ORIGINS', message: expect.stringContaining('origins') },
      ]);
    expect(loadConfig({}).SYNC_MAX_CONNECTIONS_PER_USER).toBe(10);
    expect(configError({ SYNC_MAX_CONNECTIONS_PER_USER: '0' }).issues[0]!.variable).toBe(
      'SYNC_MAX_CONNECTIONS_PER_USER',
    );
  });

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
      APP_API_TOKEN: 'app-token',
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
    // A pair whose other half is fine, so that only the bad one is named.
    ['VAPID_PUBLIC_KEY', 'not-a-key'],
    ['VAPID_PRIVATE_KEY', `${'A'.repeat(42)}=`],
  ])('a bad %s (%j) is a ConfigError naming it', (variable, value) => {
    const error = configError({ ...validPair(variable), [variable]: value });
    expect(error.name).toBe('ConfigError');
    expect(error.issues.map((i) => i.variable)).toEqual([variable]);
    expect(error.message).toContain(variable);
  });

  test('every bad variable is named at once', () => {
    const error = configError({ PORT: '-1', LOG_LEVEL: 'loud', RETRY_DELAYS_MS: 'soon' });
    expect(error.issues.map((i) => i.variable).sort()).toEqual(['LOG_LEVEL', 'PORT', 'RETRY_DELAYS_MS']);
    expect(error.message).toMatch(/PORT: .+; /);
  });

  test('the dapr runtime needs DATABASE_URL and APP_API_TOKEN, both named at once', () => {
    const error = configError({ TASKSTREAM_RUNTIME: 'dapr' });
    expect(error.issues).toEqual([
      { variable: 'DATABASE_URL', message: 'required when TASKSTREAM_RUNTIME=dapr' },
      { variable: 'APP_API_TOKEN', message: expect.stringMatching(/^required when TASKSTREAM_RUNTIME=dapr/) },
    ]);
  });

  test.each(['development', 'test', 'production'])(
    'under dapr, NODE_ENV=%s too, callbacks are never open: APP_API_TOKEN is required',
    (nodeEnv) => {
      const dapr = {
        TASKSTREAM_RUNTIME: 'dapr',
        NODE_ENV: nodeEnv,
        DATABASE_URL: 'postgres://db/taskstream',
        JWT_SECRET: 'x'.repeat(32),
      };
      expect(configError(dapr).issues.map((i) => i.variable)).toEqual(['APP_API_TOKEN']);
      expect(configError({ ...dapr, APP_API_TOKEN: '' }).message).toContain('APP_API_TOKEN');
      expect(loadConfig({ ...dapr, APP_API_TOKEN: 'app-token' }).APP_API_TOKEN).toBe('app-token');
    },
  );

  test('the embedded runtime makes its own app token; `migrate` under dapr serves nothing and needs none', () => {
    expect(loadConfig({}).APP_API_TOKEN).toBeUndefined();
    const migrate = loadConfig(
      {
        TASKSTREAM_RUNTIME: 'dapr',
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://db/t',
        JWT_SECRET: 'x'.repeat(32),
      },
      { serving: false },
    );
    expect(migrate.APP_API_TOKEN).toBeUndefined();
  });

  test('VAPID keys go in pairs, in every environment: the missing half is named', () => {
    expect(configError({ VAPID_PUBLIC_KEY: keys.publicKey }).issues).toEqual([
      { variable: 'VAPID_PRIVATE_KEY', message: 'set together with VAPID_PUBLIC_KEY (both or neither)' },
    ]);
    expect(configError({ VAPID_PRIVATE_KEY: keys.privateKey }, { serving: false }).issues).toEqual([
      { variable: 'VAPID_PUBLIC_KEY', message: 'set together with VAPID_PRIVATE_KEY (both or neither)' },
    ]);
    expect(
      loadConfig({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey }),
    ).toMatchObject({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey });
  });

  test('Kafka settings of the lag reader: brokers as a list, checked; the SASL user and password in pairs', () => {
    expect(loadConfig({}).KAFKA_BROKERS).toBeUndefined();
    expect(
      loadConfig({
        KAFKA_BROKERS: 'a.example:9092,b.example:9093',
        KAFKA_TLS: 'true',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    ).toMatchObject({
      KAFKA_BROKERS: ['a.example:9092', 'b.example:9093'],
      KAFKA_TLS: true,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
    });
    expect(configError({ KAFKA_BROKERS: 'redpanda' }).issues.map((i) => i.variable)).toEqual([
      'KAFKA_BROKERS',
    ]);
    expect(configError({ KAFKA_SASL_MECHANISM: 'PLAIN' }).issues.map((i) => i.variable)).toEqual([
      'KAFKA_SASL_MECHANISM',
    ]);
    expect(configError({ KAFKA_SASL_USERNAME: 'u' }).issues).toEqual([
      { variable: 'KAFKA_SASL_PASSWORD', message: 'set together with KAFKA_SASL_USERNAME (both or neither)' },
    ]);
    expect(configError({ KAFKA_SASL_PASSWORD: 'p' }).issues).toEqual([
      { variable: 'KAFKA_SASL_USERNAME', message: 'set together with KAFKA_SASL_PASSWORD (both or neither)' },
    ]);
  });

  test('the notification service in production needs its VAPID keys from configuration', () => {
    const notification = { NODE_ENV: 'production', APP_ID: 'notification', JWT_SECRET: 'x'.repeat(32) };
    const error = configError(notification);
    expect(error.issues.map((i) => i.variable)).toEqual(['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY']);
    expect(error.message).toMatch(/VAPID_PUBLIC_KEY: required in production for the notification service/);
    expect(
      loadConfig({ ...notification, VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey })
        .VAPID_PUBLIC_KEY,
    ).toBe(keys.publicKey);
  });

  test('without VAPID keys: other services, the one-process host, development and `migrate` still start', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    expect(loadConfig({ ...production, APP_ID: 'task-api' }).VAPID_PUBLIC_KEY).toBeUndefined();
    expect(loadConfig(production).VAPID_PUBLIC_KEY).toBeUndefined(); // the host keeps its pair in its database
    expect(loadConfig({ APP_ID: 'notification' }).VAPID_PUBLIC_KEY).toBeUndefined();
    expect(
      loadConfig({ ...production, APP_ID: 'notification' }, { serving: false }).VAPID_PUBLIC_KEY,
    ).toBeUndefined();
  });

  test('production needs JWT_SECRET or JWKS_URL', () => {
    expect(configError({ NODE_ENV: 'production' }).issues[0]!.variable).toBe('JWT_SECRET');
    expect(
      loadConfig({ NODE_ENV: 'production', JWKS_URL: 'https://issuer.example/.well-known/jwks.json' })
        .NODE_ENV,
    ).toBe('production');
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET).toHaveLength(32);
  });

  test('push endpoints on loopback are for development and tests only', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    expect(configError({ ...production, PUSH_ALLOW_LOOPBACK: 'true' }).issues).toEqual([
      { variable: 'PUSH_ALLOW_LOOPBACK', message: expect.stringMatching(/^not in production/) },
    ]);
    expect(loadConfig({ NODE_ENV: 'test', PUSH_ALLOW_LOOPBACK: 'true' }).PUSH_ALLOW_LOOPBACK).toBe(true);
    expect(loadConfig({}).PUSH_MAX_SUBSCRIPTIONS_PER_USER).toBe(10);
    expect(loadConfig({ PUSH_ALLOWED_HOSTS: 'FCM.googleapis.com,*' }).PUSH_ALLOWED_HOSTS).toEqual([
      'fcm.googleapis.com',
      '*',
    ]);
    expect(configError({ PUSH_ALLOWED_HOSTS: 'https://fcm.googleapis.com' }).issues[0]!.variable).toBe(
      'PUSH_ALLOWED_HOSTS',
    );
  });

  test('TRUST_PROXY: a hop count, false or named proxies; never true (any client could pick its address)', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe('loopback');
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toBe('loopback,10.0.0.0/8');
    expect(configError({ TRUST_PROXY: 'true' }).issues[0]!.variable).toBe('TRUST_PROXY');
  });
});
