// Nothing is encrypted twice, on PostgreSQL (the body is migration-idempotence.ts): one real server
// for the file, a fresh database per case (copies by CREATE DATABASE … TEMPLATE). Fewer values than
// on SQLite (the suite runs twice in CI): still four data keys per provider's database, legacy
// plaintext in every target, and every value checked after every step.
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { idempotenceTests } from './migration-idempotence.js';
import { postgresStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(() => server.stop());

await idempotenceTests(postgresStore(server), { secrets: 4_000, rows: 1_000, rotateEvery: 1_000 });
