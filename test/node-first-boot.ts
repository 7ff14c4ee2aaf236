// One node of an appliance cluster booting: it loads atrest (and the PostgreSQL store when the
// database is PostgreSQL), says it is ready (a file), waits for the
// test's go (another file) so that every node opens the database at the same moment, then opens
// atrest and writes one secret. It prints {"code": "OK" | error code, "message"} on stdout.
// Usage: node node-first-boot.js GO_FILE NODE_NAME (database and key path from the environment)
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAtrestError, openAtrest } from '@atrest/core';
import { repoRoot } from './helpers.js';

const [go = '', node = ''] = process.argv.slice(2);
// Loaded before the go, as core would load it after: every node reaches the database at once.
if (process.env['ATREST_DATABASE_TYPE'] === 'postgres') await import('@atrest/store-postgres');
writeFileSync(`${go}.ready.${node}`, '');
while (!existsSync(go)) await sleep(5);
try {
  const atrest = await openAtrest({ env: process.env, appRoot: repoRoot });
  await atrest.secrets.set(`written-by-${node}`, 'value');
  await atrest.close();
  process.stdout.write(JSON.stringify({ code: 'OK', message: '' }));
} catch (err) {
  const code = isAtrestError(err) ? err.code : 'UNEXPECTED';
  process.stdout.write(JSON.stringify({ code, message: err instanceof Error ? err.message : String(err) }));
  process.exitCode = 2;
}
