// The migration commands as an operator runs them, on SQLite (the body is migration-cli.ts).
import { cliTests } from './migration-cli.js';
import { sqliteStore } from './migration-stores.js';

await cliTests(sqliteStore);
