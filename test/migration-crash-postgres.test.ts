// SIGKILL during every migration command on PostgreSQL (the body is migration-crash.ts), on one
// real server for the file and a fresh database per case. Smaller than on SQLite (the suite runs
// twice in CI): a few thousand values in several batches; the kills, the re-runs (the advisory
// lock released with the killed process's session) and the check of every value are the point;
// two kills per command (each kill, re-run and full check costs several processes).
import t from 'tap';
import { startPostgres } from '@atrest/testkit';
import { crashTests } from './migration-crash.js';
import { postgresStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(() => server.stop());

await crashTests(postgresStore(server), {
  values: { secrets: 2_500, rows: 300, rotateEvery: 1_000 },
  keys: { secrets: 600, rows: 300, rotateEvery: 100, passRotateEvery: 200 },
  maxKills: 2,
});
