// The SQLite store: the store conformance suite on real database files, then what only SQLite has
// (the application's own handle, a lock row that names its holder, SQLite's own failures).
import { rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import t from 'tap';
import { runStoreConformance, spawnLockHolder, tempDir } from '@atrest/testkit';
import type { StoreHarness } from '@atrest/testkit';
import { openSqliteStore } from '../src/store/sqlite-store.js';

const holderScript = fileURLToPath(new URL('./sqlite-lock-holder.js', import.meta.url));

function tempFile(): { dir: string; file: string } {
  const dir = tempDir('atrest-store-');
  return { dir, file: join(dir, 'app.db') };
}

/** A SQLite database file, with the application's side through its own better-sqlite3 connection. */
async function sqliteHarness(): Promise<StoreHarness> {
  const { dir, file } = tempFile();
  const app = new Database(file);
  app.pragma('journal_mode = WAL');
  app.pragma('busy_timeout = 10000');
  return {
    openStore: async (options) => openSqliteStore(file, options),
    async createTable(table, columns) {
      app.exec(`CREATE TABLE "${table}" (id INTEGER PRIMARY KEY, ${columns.map((c) => `"${c}" TEXT`).join(', ')})`);
    },
    async insertRows(table, rows) {
      return app.transaction(() =>
        rows.map((row) => {
          const names = Object.keys(row);
          const columns = names.map((n) => `"${n}"`).join(', ');
          const sql = `INSERT INTO "${table}" (${columns}) VALUES (${names.map(() => '?').join(', ')})`;
          return Number(app.prepare(sql).run(...Object.values(row)).lastInsertRowid);
        }),
      )();
    },
    async updateCell(table, id, column, value) {
      app.prepare(`UPDATE "${table}" SET "${column}" = ? WHERE id = ?`).run(value, id);
    },
    async deleteRow(table, id) {
      app.prepare(`DELETE FROM "${table}" WHERE id = ?`).run(id);
    },
    async readCell(table, id, column) {
      const row = app.prepare(`SELECT "${column}" AS cell FROM "${table}" WHERE id = ?`).get(id) as
        | { cell: string | null }
        | undefined;
      return row?.cell;
    },
    async overwriteSecret(name, value) {
      app.prepare('UPDATE atrest_secrets SET value = ? WHERE name = ?').run(value, name);
    },
    async recordSchemaVersion(version) {
      app
        .prepare('INSERT INTO atrest_schema (version, applied_at) VALUES (?, ?)')
        .run(version, new Date().toISOString());
    },
    spawnLockHolder: (command) => spawnLockHolder(holderScript, [file, command]),
    async destroy() {
      app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

await runStoreConformance(t, sqliteHarness);

const holder = (command: string) => ({ command, pid: process.pid, host: hostname(), since: new Date().toISOString() });

t.test("the application's handle: atrest opens a connection of its own and leaves the handle open", async (t) => {
  const { dir, file } = tempFile();
  const app = new Database(file);
  const store = openSqliteStore(app);
  await store.putSecret('x', Buffer.from('y'), false);
  await store.close();
  t.equal(app.open, true, "closing the store leaves the application's handle open");
  t.same((app.prepare('SELECT value FROM atrest_secrets').get() as { value: Buffer }).value, Buffer.from('y'));
  app.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('the lock row: taken over after its holder looked dead, damaged', async (t) => {
  const { dir, file } = tempFile();
  const store = openSqliteStore(file);
  const raw = new Database(file);
  const setRow = (value: string): void => {
    raw.prepare("UPDATE atrest_meta SET value = ? WHERE key = 'migration_lock'").run(value);
  };
  const lock = await store.acquireMigrationLock(holder('first'));
  // Another node took the lock over (this one's heartbeat looked stale): the next heartbeat stops it.
  const other = {
    host: 'other-node.example',
    pid: 4242,
    token: 't',
    lockId: 'l',
    command: 'theirs',
    startedAt: 'x',
    heartbeat: Date.now(),
  };
  setRow(JSON.stringify(other));
  await t.rejects(
    lock.heartbeat(),
    { code: 'ATREST_LOCKED', details: { host: 'other-node.example', pid: 4242 } },
    'a heartbeat on a lock taken over refuses to go on',
  );
  await lock.release();
  t.match(
    JSON.parse(
      (raw.prepare("SELECT value FROM atrest_meta WHERE key = 'migration_lock'").get() as { value: string }).value,
    ),
    { host: 'other-node.example' },
    "and the release leaves the new holder's row",
  );
  setRow('{not json');
  await t.rejects(
    store.acquireMigrationLock(holder('second')),
    { code: 'ATREST_LOCK_DAMAGED', message: /migration lock row of atrest_meta .* is damaged: it is not JSON/ },
    'a damaged row is reported as such',
  );
  t.match(await store.clearMigrationLock(), { cleared: 'damaged' }, 'and cleared');
  await (await store.acquireMigrationLock(holder('third'))).release();
  raw.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test("SQLite's failures are catalogue errors", async (t) => {
  const { dir, file } = tempFile();
  writeFileSync(file, 'this is not a SQLite database, but it is long enough to have a header of one'.repeat(20));
  t.throws(() => openSqliteStore(file), { code: 'ATREST_STORE', details: { path: file } }, 'not a database');
  t.throws(() => openSqliteStore(join(dir, 'no', 'such', 'dir.db')), { code: 'ATREST_STORE' }, 'no such directory');
  rmSync(dir, { recursive: true, force: true });
});

t.test("upgrade to schema 3: atrest's secrets are sealed unless plaintext rows are there", async (t) => {
  for (const plaintext of [false, true]) {
    const { dir, file } = tempFile();
    const store = openSqliteStore(file);
    await store.putSecret('smtp', Buffer.from('a value'), !plaintext);
    await store.close();
    // The database as schema version 2 left it: no seals table.
    const raw = new Database(file);
    raw.exec('DROP TABLE atrest_seals; DELETE FROM atrest_schema WHERE version = 3;');
    raw.close();
    const upgraded = openSqliteStore(file, { create: false });
    t.equal(await upgraded.schemaVersion(), 3, 'upgraded to version 3');
    t.same(
      [...(await upgraded.seals()).keys()],
      plaintext ? [] : ['atrest_secrets'],
      plaintext ? 'a plaintext secret: not sealed (a transition)' : 'no plaintext secret: sealed',
    );
    t.equal((await upgraded.getSecret('smtp'))?.encrypted, !plaintext, 'the secret is untouched');
    await upgraded.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
