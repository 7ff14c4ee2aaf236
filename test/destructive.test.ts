// Nothing destructive on unverified facts on SQLite (the body is destructive.ts), and no legacy
// plaintext left in the database files once re-encrypt encrypted it (issue 9 §7): atrest's
// connection deletes securely, rebuilds the file and truncates the WAL, proven by searching the files' raw bytes.
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { destructiveTests } from './destructive.js';
import { cli, copyFixture, provision, removeTempDirs, secretValue, verifyAll } from './migration-fixture.js';
import { sqliteStore } from './migration-stores.js';

t.teardown(removeTempDirs);

await destructiveTests(t, sqliteStore);

/** How many of `needles` occur in the database file or its -wal, byte for byte. */
function found(db: string, needles: readonly Buffer[]): number {
  const files = [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
  return needles.filter((needle) => files.some((file) => file.includes(needle))).length;
}

t.test('SQLite: no legacy plaintext is left in the database file or its WAL after re-encrypt', async (t) => {
  const { fixture, originals } = await provision('file', { secrets: 600, rows: 90, plainEvery: 7 });
  const f = await copyFixture(fixture);
  // atrest's own secrets, written as plaintext by an older application, and plaintext target cells.
  const secrets = [...originals.plainSecrets].map(secretValue).filter((v) => v.length >= 24);
  const cells: Buffer[] = [];
  for (const [id, row] of originals.rows) {
    if (id % 3 === 0 && row.password !== null) cells.push(Buffer.from(row.password, 'utf8'));
  }
  t.ok(secrets.length > 50 && cells.length > 20, `${secrets.length} secrets and ${cells.length} cells to look for`);
  t.equal(found(f.db, secrets), secrets.length, 'before: each secret is in the file');
  t.equal(found(f.db, cells), cells.length, 'and each cell');
  const run = await cli(f, ['secrets-migration', 're-encrypt', '--batch-size', '50']);
  t.equal(run.code, 0, `re-encrypt exits 0: ${run.stderr}`);
  t.equal(found(f.db, secrets), 0, 'after: no secret is left in the file or the -wal, not even in free space');
  // What atrest rewrote is zeroed; what the application's own connection left in the unused part
  // of a page it split (before atrest ran) goes with the VACUUM re-encrypt ends with.
  t.match(run.stderr, /database file rebuilt \(VACUUM\)/, 'it rebuilt the file');
  t.equal(found(f.db, cells), 0, 'no cell either, not even in pages atrest never rewrote');
  t.same((await verifyAll(f, originals)).mismatches, [], 'and every value reads');
});
