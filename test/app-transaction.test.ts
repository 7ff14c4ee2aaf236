// DESIGN's failure mode: "data keys created inside a transaction that rolled back were cached and
// used: secrets lost forever". atrest commits data keys on its own connection, so an application
// transaction that rolls back cannot take a data key with it.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';

t.test("a data key made while the application's transaction is open survives its rollback", async (t) => {
  const dir = tempDir('atrest-tx-');
  const file = join(dir, 'app.db');
  const db = new Database(file);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
  const options = {
    database: db,
    env: {},
    options: { 'security.encryption.file.default.key_path': join(dir, 'k.key') },
  };
  const a = await openAtrest(options);
  db.exec('BEGIN');
  db.prepare('SELECT count(*) FROM notes').get();
  const kept = await a.encryptText('encrypted while the transaction was open', { scope: 'notes' });
  db.exec('ROLLBACK');
  // The application keeps the ciphertext elsewhere (a retry, a cache): it must stay decryptable.
  db.prepare('INSERT INTO notes (body) VALUES (?)').run(kept);
  await a.close();
  db.close();

  const again = new Database(file);
  const b = await openAtrest({ ...options, database: again });
  const body = (again.prepare('SELECT body FROM notes').get() as { body: string }).body;
  t.equal(await b.decryptText(body), 'encrypted while the transaction was open', 'its data key was committed');
  t.equal((await b.status()).dataKeys.total, 1);
  await b.close();
  again.close();
});

t.test('an in-memory database refuses to make a data key inside an open transaction', async (t) => {
  const db = new Database(':memory:');
  const dir = tempDir('atrest-tx-mem-');
  const a = await openAtrest({
    database: db,
    env: {},
    options: { 'security.encryption.file.default.key_path': join(dir, 'k.key') },
  });
  db.exec('BEGIN');
  await t.rejects(
    a.encrypt('x', { scope: 'in-tx' }),
    { code: 'ATREST_STORE' },
    'refused rather than rolled back with the caller',
  );
  db.exec('ROLLBACK');
  t.ok((await a.encrypt('x', { scope: 'in-tx' })).length > 0, 'works outside the transaction');
  await a.close();
  db.close();
});
