// The migration commands as an operator runs them, on PostgreSQL (the body is migration-cli.ts):
// one real server for the file, a fresh database per case, the same sizes as on SQLite.
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { cliTests } from './migration-cli.js';
import { postgresStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(() => server.stop());

await cliTests(postgresStore(server));
