// A real process for the lock conformance test: opens the PostgreSQL store at the URL given, takes
// the migration lock for the command given, says "locked" and holds it until it is killed.
import { hostname } from 'node:os';
import { openPostgresStore, postgresSettings } from '@atrest/store-postgres';

const [url = '', command = ''] = process.argv.slice(2);
const store = await openPostgresStore(postgresSettings({ url }));
await store.acquireMigrationLock({ command, pid: process.pid, host: hostname(), since: new Date().toISOString() });
console.log('locked');
setInterval(() => undefined, 60_000);
