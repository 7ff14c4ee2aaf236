// Nothing is encrypted twice, on SQLite (the body is migration-idempotence.ts).
import { idempotenceTests } from './migration-idempotence.js';
import { sqliteStore } from './migration-stores.js';

await idempotenceTests(sqliteStore, { secrets: 10_000, rows: 1_000, rotateEvery: 2_500 });
