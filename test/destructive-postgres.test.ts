// Nothing destructive on unverified facts on PostgreSQL (the body is destructive.ts), on one real
// server for the file and a fresh database per case.
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { destructiveTests } from './destructive.js';
import { removeTempDirs } from './migration-fixture.js';
import { postgresStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(async () => {
  removeTempDirs();
  await server.stop();
});

await destructiveTests(t, postgresStore(server));
