// Row-bound targets (`table.column[:json]@key_column`): each value's context includes its row's key,
// so a value copied to another row of the same column fails to decrypt (it decrypted before: the
// context was only `table.column`). encryptText/decryptText take `row`; re-encrypt reads the key from
// the row, reports a row whose key is NULL or whose value was copied from another row, and never
// writes a value to a row whose key changed meanwhile. Unbound targets are unchanged.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import type { Test } from 'tap';
import { openAtrest } from '@atrest/core';
import type { Atrest } from '@atrest/core';
import { rejection, tempDir } from '@atrest/testkit';

const ROWS = 200;

async function fixture(
  t: Test,
  targets = 'ds.password@uid ds.settings:json@uid ds.note',
): Promise<{ a: Atrest; db: Database.Database }> {
  const dir = tempDir('atrest-row-bound-');
  const database = join(dir, 'app.db');
  const db = new Database(database);
  db.exec('CREATE TABLE ds (id INTEGER PRIMARY KEY, uid TEXT, password TEXT, settings TEXT, note TEXT)');
  const insert = db.prepare('INSERT INTO ds (uid, password, settings, note) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) {
      insert.run(`u${i}`, `pw${i}`, JSON.stringify({ token: `t${i}`, port: i }), `n${i}`);
    }
  })();
  const a = await openAtrest({
    database,
    env: { ATREST_SECRETS_MIGRATION_TARGETS: targets },
    options: { 'security.encryption.file.default.key_path': join(dir, 'k.key') },
  });
  t.teardown(async () => {
    await a.close();
    db.close();
  });
  return { a, db };
}

type Row = { id: number; uid: string | null; password: string; settings: string; note: string };
const rows = (db: Database.Database): Row[] => db.prepare('SELECT * FROM ds ORDER BY id').all() as Row[];

t.test('encryptText/decryptText with row: another row, no row, or a row on an unbound target fail', async (t) => {
  const { a } = await fixture(t);
  const v = await a.encryptText('pw', { target: 'ds.password', row: 'u1' });
  t.equal(await a.decryptText(v, { target: 'ds.password', row: 'u1' }), 'pw', 'its own row reads it');
  t.equal(await a.decryptText(v, { target: 'ds.password@uid', row: 'u1' }), 'pw', 'the spec names it too');
  t.equal((await rejection(a.decryptText(v, { target: 'ds.password', row: 'u2' }))).code, 'ATREST_DECRYPT_FAILED');
  t.equal((await rejection(a.decryptText(v, { target: 'ds.password' }))).code, 'ATREST_ROW_KEY_MISSING');
  t.equal((await rejection(a.encryptText('x', { target: 'ds.password' }))).code, 'ATREST_ROW_KEY_MISSING');
  t.equal((await rejection(a.encryptText('x', { target: 'ds.note', row: 'u1' }))).code, 'ATREST_USAGE');
  t.equal((await rejection(a.encryptText('x', { context: 'c', row: 'u1' }))).code, 'ATREST_USAGE');
  // The row key is length-prefixed: no row key and field can pass for another pair.
  const f = await a.encryptText('tok', { target: 'ds.settings', row: 'a.b', field: 'f' });
  t.equal(await a.decryptText(f, { target: 'ds.settings', row: 'a.b', field: 'f' }), 'tok');
  const moved = await rejection(a.decryptText(f, { target: 'ds.settings', row: 'a', field: 'b.f' }));
  t.equal(moved.code, 'ATREST_DECRYPT_FAILED', 'row a.b field f is not row a field b.f');
  // Numbers are bound as their text, as the database's text cast writes them.
  const n = await a.encryptText('pw', { target: 'ds.password', row: 42 });
  t.equal(await a.decryptText(n, { target: 'ds.password', row: '42' }), 'pw');
});

t.test('re-encrypt binds every value to its row; a value copied to another row no longer decrypts', async (t) => {
  const { a, db } = await fixture(t);
  const [, ...reports] = await a.migrations.reEncrypt();
  t.same(
    reports.map((r) => [r.target, r.plaintextEncrypted, r.failed]),
    [
      ['ds.password@uid', ROWS, 0],
      ['ds.settings:json@uid', ROWS, 0],
      ['ds.note', ROWS, 0],
    ],
  );
  const before = rows(db);
  for (const r of before) {
    const token = (JSON.parse(r.settings) as { token: string }).token;
    if ((await a.decryptText(r.password, { target: 'ds.password', row: r.uid ?? '' })) !== `pw${r.id}`)
      t.fail(`${r.uid}`);
    if ((await a.decryptText(token, { target: 'ds.settings', field: 'token', row: r.uid ?? '' })) !== `t${r.id}`) {
      t.fail(`token of ${r.uid}`);
    }
  }
  // The attack: every row's value copied from the next row.
  const copy = db.prepare('UPDATE ds SET password = ?, settings = ?, note = ? WHERE id = ?');
  db.transaction(() => {
    for (const [i, r] of before.entries()) {
      const from = before[(i + 1) % before.length] as Row;
      copy.run(from.password, from.settings, from.note, r.id);
    }
  })();
  let readable = 0;
  for (const r of rows(db)) {
    const token = (JSON.parse(r.settings) as { token: string }).token;
    for (const read of [
      a.decryptText(r.password, { target: 'ds.password', row: r.uid ?? '' }),
      a.decryptText(token, { target: 'ds.settings', field: 'token', row: r.uid ?? '' }),
    ]) {
      const err = await rejection(read);
      if (err.code !== 'ATREST_DECRYPT_FAILED') readable++;
    }
  }
  t.equal(readable, 0, `${2 * ROWS} copied row-bound values: none decrypts in its new row`);
  // An unbound target is bound to its column only: the copy reads (what the README says).
  const [first] = rows(db);
  t.equal(await a.decryptText(first?.note ?? '', { target: 'ds.note' }), 'n2', 'ds.note is bound to its column only');
  // Re-encrypt decrypts what is not on a current data key: retire them, so that it reads every value.
  t.ok((await a.migrations.rotateDataKeys()) > 0, 'data keys retired');
  const [, password, settings, note] = await a.migrations.reEncrypt();
  t.match(password, { failed: ROWS, reEncrypted: 0 }, 'every copied password reported');
  t.equal(password?.failures[0]?.code, 'ATREST_DECRYPT_FAILED');
  t.match(settings, { failed: ROWS }, 'every copied settings row reported');
  t.match(note, { failed: 0, reEncrypted: ROWS }, 'the unbound copies are re-encrypted where they are');
});

t.test('re-encrypt: a NULL row key is reported and its plaintext left; status counts values', async (t) => {
  const { a, db } = await fixture(t, 'ds.password@uid');
  db.prepare('UPDATE ds SET uid = NULL WHERE id IN (3, 7)').run();
  const [, report] = await a.migrations.reEncrypt();
  t.match(report, { scanned: ROWS, plaintextEncrypted: ROWS - 2, failed: 2 });
  t.same(
    report?.failures.map((f) => [f.row, f.code]),
    [
      ['3', 'ATREST_ROW_KEY_MISSING'],
      ['7', 'ATREST_ROW_KEY_MISSING'],
    ],
  );
  t.same(
    rows(db)
      .filter((r) => r.id === 3 || r.id === 7)
      .map((r) => r.password),
    ['pw3', 'pw7'],
    'left as they were',
  );
  t.match((await a.status()).targets[0], { target: 'ds.password@uid', values: ROWS, plaintext: 2 });
});

t.test('a target whose row key column is missing is a configuration error', async (t) => {
  const { a } = await fixture(t, 'ds.password@nope');
  const err = await rejection(a.migrations.reEncrypt());
  t.match(err, { code: 'ATREST_CONFIG_INVALID', details: { target: 'ds.password@nope', missing: 'rowKey' } });
  for (const bad of ['ds.password@password', 'ds.password@', 'ds.password@a@b', 'ds.password@1a', 'ds.p@uid:json']) {
    const e = await rejection(openAtrest({ database: ':memory:', env: { ATREST_SECRETS_MIGRATION_TARGETS: bad } }));
    t.equal(e.code, 'ATREST_CONFIG_INVALID', bad);
  }
});
