// Migrations next to a running application and next to each other, on PostgreSQL (the body is
// migration-concurrency.ts): one real server for the file, a fresh database per case. Fewer
// secrets than on SQLite (the suite runs twice in CI); the application's writer, the locks and the
// compare-and-swap are the point.
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { concurrencyTests } from './migration-concurrency.js';
import { postgresStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(() => server.stop());

await concurrencyTests(postgresStore(server), { secrets: 10_000, rows: 3_000 });
