// Data keys nothing uses are deleted after a provider migration (issue 10 §3), never one a value
// still names nor one a running node may still use (retired less than data_keys_cache_ttl ago);
// then the old provider can be removed from the configuration and `status` is clean.
import Database from 'better-sqlite3';
import t from 'tap';
import { box, runInProcess } from './helpers.js';

type Status = { dataKeys: { total: number; unused?: number; byProvider: Record<string, unknown> } };

t.test('after a migration to a passphrase, the old data keys go once nothing uses them', async (t) => {
  const b = box();
  for (const name of ['smtp', 'ldap']) {
    t.equal((await runInProcess([...b.args, 'secrets', 'set', name], { input: `${name}-value` })).code, 0);
  }
  const migrated = {
    ATREST_SECURITY_ENCRYPTION_PROVIDER: 'secret_key.default',
    ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: 'file.default',
    ATREST_ENCRYPTION_SECRET_KEY: 'a passphrase long enough',
  };
  const run = (args: string[], env: Record<string, string> = migrated) => runInProcess([...b.args, ...args], { env });
  const status = async (env?: Record<string, string>) => {
    const r = await run(['status', '--json'], env);
    return { code: r.code, s: JSON.parse(r.stdout.toString()) as Status };
  };
  // Time passing, without waiting: every retirement moved an hour back.
  const anHourLater = () => {
    const db = new Database(b.db);
    db.prepare('UPDATE atrest_data_keys SET updated_at = ? WHERE active = 0').run(
      new Date(Date.now() - 3_600_000).toISOString(),
    );
    db.close();
  };

  const early = await run(['secrets-migration', 'cleanup', '--json']);
  t.equal(early.code, 0, early.stderr);
  t.same(JSON.parse(early.stdout.toString()), { deleted: 0, inUse: 1, waiting: 0 }, 'the file key holds values');
  anHourLater();
  t.match(
    JSON.parse((await run(['secrets-migration', 'cleanup', '--json'])).stdout.toString()),
    {
      deleted: 0,
      inUse: 1,
    },
    'however long ago it was retired',
  );

  const moved = await run(['secrets-migration', 're-encrypt']);
  t.equal(moved.code, 0, moved.stderr);
  t.match(moved.stdout.toString(), /unused data keys deleted: 1\n$/, 'a complete re-encrypt ends with the cleanup');
  t.match((await status()).s.dataKeys, { total: 1, unused: 0, byProvider: { 'secret_key.default': { total: 1 } } });

  // Data keys rotated, values moved: the retired key is unused, but was retired just now.
  t.equal((await run(['secrets-migration', 'rotate-data-keys'])).code, 0);
  const again = await run(['secrets-migration', 're-encrypt']);
  t.match(again.stdout.toString(), /unused data keys deleted: 0; 1 unused but retired less than data_keys_cache_ttl/);
  t.match(again.stdout.toString(), "run 'atrest secrets-migration cleanup' after");
  const waiting = await status();
  t.equal(waiting.s.dataKeys.unused, 1, 'status counts the unused data key');
  t.equal(waiting.s.dataKeys.total, 2, 'kept while a node may still use it');
  anHourLater();
  const cleaned = await run(['secrets-migration', 'cleanup']);
  t.equal(cleaned.code, 0, cleaned.stderr);
  t.equal(cleaned.stdout.toString(), 'unused data keys deleted: 1\n');
  t.match((await status()).s.dataKeys, { total: 1, unused: 0 });

  // The old provider removed from the configuration: status is clean, the secrets read.
  const { ATREST_SECURITY_AVAILABLE_ENCRYPTION_PROVIDERS: _removed, ...withoutFile } = migrated;
  const last = await status(withoutFile);
  t.equal(last.code, 0, 'status exits 0: no data key of a provider that is not configured');
  const got = await run(['secrets', 'get', 'smtp'], withoutFile);
  t.equal(got.stdout.toString(), 'smtp-value');
});
