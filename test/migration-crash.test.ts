// SIGKILL during every migration command on SQLite (the body is migration-crash.ts): the commands
// that rewrite values get 12,000 secrets (12 batches to be killed in); those that only re-wrap or
// retire data keys get one data key per 250 secrets (500 with the passphrase) on fewer values.
import { crashTests } from './migration-crash.js';
import { sqliteStore } from './migration-stores.js';

await crashTests(sqliteStore, {
  values: { secrets: 12_000, rows: 1_500, rotateEvery: 5_000 },
  keys: { secrets: 2_000, rows: 1_000, rotateEvery: 250, passRotateEvery: 500 },
});
