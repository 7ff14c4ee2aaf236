// A database whose write lock another process holds: the CLI waits, then names the database file
// and the process, with advice for an operator (not the embedding API's).
import { createRequire } from 'node:module';
import t from 'tap';
import { spawnNode, writeIn } from '@atrest/testkit';
import { box, runAtrest } from './helpers.js';

const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');

t.test('a database locked by another process: the file and the holder named', async (t) => {
  const b = box();
  t.equal((await runAtrest([...b.args, 'init'])).code, 0, 'tables and key made');
  const holder = spawnNode([
    writeIn(
      b.dir,
      'holder.cjs',
      [
        `const Database = require(${JSON.stringify(sqlite)});`,
        `const db = new Database(${JSON.stringify(b.db)});`,
        "db.exec('BEGIN IMMEDIATE');",
        "process.stdout.write('holding\\n');",
        // The timer holds the connection: unreferenced, it would be collected and the lock released.
        'setInterval(() => db.inTransaction, 1000);',
      ].join('\n'),
    ),
  ]);
  t.teardown(() => holder.child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    holder.child.stdout?.on('data', (d: Buffer) => d.toString().includes('holding') && resolve());
    holder.child.on('exit', (code) => reject(new Error(`the holder exited (${code})`)));
  });
  // A first data key (secrets set) and the migration lock (rotate-data-keys) both need the write lock.
  const [set, rotate] = await Promise.all([
    runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' }),
    runAtrest([...b.args, 'secrets-migration', 'rotate-data-keys']),
  ]);
  for (const [what, r] of [
    ['secrets set', set],
    ['secrets-migration rotate-data-keys', rotate],
  ] as const) {
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, `error ATREST_STORE: The database ${b.db} is locked: process ${holder.child.pid}`, what);
    t.match(r.stderr, 'held its write lock for longer than atrest waits', `${what}: what happened`);
    t.match(r.stderr, 'Run the command again once it has finished writing', `${what}: what to do`);
    t.notMatch(r.stderr, /transaction|encrypt before/, `${what}: no advice meant for embedding code`);
    t.notMatch(r.stderr, /SqliteError|at .*\.js/, `${what}: no stack`);
  }
  holder.child.kill('SIGKILL');
  await holder.done;
  t.equal((await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' })).code, 0, 'free again: it works');
});
