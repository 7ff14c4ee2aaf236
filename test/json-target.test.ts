// A `table.column:json` target whose cell is not a JSON object: re-encrypt reports the row (it
// cannot encrypt its values field by field) instead of passing over it; status counts it.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';

t.test('a :json cell that is not an object is reported, the others are encrypted', async (t) => {
  const dir = tempDir('atrest-json-');
  const file = join(dir, 'app.db');
  const db = new Database(file);
  db.exec('CREATE TABLE ds (id INTEGER PRIMARY KEY, cfg TEXT)');
  const ins = db.prepare('INSERT INTO ds (cfg) VALUES (?)');
  ins.run(JSON.stringify({ password: 'p1', port: 5432 }));
  ins.run('not json at all');
  ins.run(JSON.stringify(['an', 'array']));
  ins.run(null);
  db.close();
  const options = {
    database: file,
    env: { ATREST_SECRETS_MIGRATION_TARGETS: 'ds.cfg:json' },
    options: { 'security.encryption.file.default.key_path': join(dir, 'k.key') },
  };
  const a = await openAtrest(options);
  const [, report] = await a.migrations.reEncrypt();
  t.match(report, { target: 'ds.cfg:json', scanned: 4, plaintextEncrypted: 1, failed: 2 });
  t.same(
    report?.failures.map((f) => [f.row, f.code]),
    [
      ['2', 'ATREST_FORMAT_INVALID'],
      ['3', 'ATREST_FORMAT_INVALID'],
    ],
    'both malformed rows named with the code',
  );
  const s = await a.status();
  t.match(s.targets[0], { rows: 4, values: 1, encrypted: 1, plaintext: 0, invalid: 2 });
  const row = new Database(file).prepare('SELECT cfg FROM ds WHERE id = 1').get() as { cfg: string };
  const cfg = JSON.parse(row.cfg) as { password: string; port: number };
  t.equal(cfg.port, 5432, 'non-string values are left as they are');
  t.equal(await a.decryptText(cfg.password, { target: 'ds.cfg', field: 'password' }), 'p1');
  const off = await a.migrations.disableEncryption();
  t.equal(off.reports[1]?.failed, 0, 'turning encryption off passes over cells with nothing to decrypt');
  await a.close();
});
