// openAtrest with a key file gone: ATREST_KEY_MISSING counts what depends on the missing key in
// atrest's secrets and in every registered target. A target whose table does not exist yet holds
// nothing; a target that cannot be counted for another reason is named, never silently passed over.
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import t from 'tap';
import type { Test } from 'tap';
import { openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

async function missingKey(t: Test, targets: string): Promise<{ message: string; dependents: unknown }> {
  const dir = tempDir('atrest-missing-');
  const database = join(dir, 'app.db');
  const keyPath = join(dir, 'app.key');
  const app = new Database(database);
  app.exec('CREATE TABLE ds (id INTEGER PRIMARY KEY, password TEXT)');
  const options = {
    database,
    appRoot: repoRoot,
    env: { ATREST_SECRETS_MIGRATION_TARGETS: targets },
    options: { 'security.encryption.file.default.key_path': keyPath },
  };
  const a = await openAtrest(options);
  await a.secrets.set('one', 'v1');
  await a.secrets.set('two', 'v2');
  const insert = app.prepare('INSERT INTO ds (password) VALUES (?)');
  for (let i = 0; i < 3; i++) insert.run(await a.encryptText(`pw${i}`, { target: 'ds.password' }));
  insert.run('legacy plaintext');
  await a.close();
  app.close();
  renameSync(keyPath, `${keyPath}.moved`);
  const err = await openAtrest(options).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string; details?: Record<string, unknown> },
  );
  t.equal(err?.code, 'ATREST_KEY_MISSING', `${targets}: refused with ATREST_KEY_MISSING`);
  return { message: err?.message ?? '', dependents: err?.details?.['dependents'] };
}

t.test('secrets and target values that depend on the missing key are counted', async (t) => {
  const r = await missingKey(t, 'ds.password');
  t.equal(r.dependents, 5, 'two secrets and three target values');
  t.match(r.message, /; 5 values depend on it\.$/, 'said in the message');
});

t.test('a target whose table does not exist yet holds nothing', async (t) => {
  const r = await missingKey(t, 'ds.password not_yet.secret');
  t.equal(r.dependents, 5);
  t.notMatch(r.message, /not counted/, 'and is not reported');
});

t.test('a target that cannot be counted is named: at least, not exactly', async (t) => {
  const r = await missingKey(t, 'ds.password ds.no_such_column');
  t.equal(r.dependents, 5, 'what could be counted');
  t.match(r.message, /at least 5 values depend on it; not counted: ds\.no_such_column \(.*no_such_column/);
});
