// A process that takes a SQLite database's migration lock and holds it until it is killed: the
// store conformance suite's dead holder. Usage: node sqlite-lock-holder.js DB_FILE COMMAND
import { hostname } from 'node:os';
import { openSqliteStore } from '../src/store/sqlite-store.js';

const [file = '', command = ''] = process.argv.slice(2);
const store = openSqliteStore(file);
await store.acquireMigrationLock({ command, pid: process.pid, host: hostname(), since: new Date().toISOString() });
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
