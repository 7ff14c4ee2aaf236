// Migrations next to a running application and next to each other, on SQLite (the body is
// migration-concurrency.ts): 50,000 secrets and 3,000 target rows.
import { concurrencyTests } from './migration-concurrency.js';
import { sqliteStore } from './migration-stores.js';

await concurrencyTests(sqliteStore, { secrets: 50_000, rows: 3_000 });
