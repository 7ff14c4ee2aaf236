// Commands that only read create nothing (issue 9 §1): no database file, no atrest tables, no key
// file, whatever the typo in --db or --app; a key is made on first boot only, and only for a
// database without any data key. In process through runCli, on real SQLite files.
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { runCli } from '@atrest/cli';
import { memoryStreams, tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const readers: readonly (readonly string[])[] = [
  ['status'],
  ['secrets', 'get', 'smtp'],
  ['secrets', 'list'],
  ['secrets', 'delete', 'smtp'],
  ['decrypt'],
  ['exec', '--env', 'SMTP=smtp', '--', 'true'],
];

async function cli(argv: readonly string[], env: Record<string, string>, input = '') {
  const m = memoryStreams(input);
  const code = await runCli(argv, { app: 'mb', env, appRoot: repoRoot, io: m.io });
  return { code, out: m.out().toString('utf8'), err: m.err() };
}

t.test('a read on a mistyped database path: ATREST_NOT_INITIALIZED, and no file is created', async (t) => {
  const dir = tempDir('atrest-ro-');
  const env = { MB_ENCRYPTION_KEY_PATH: join(dir, 'srv', 'mb-encryption.key') };
  for (const argv of readers) {
    const r = await cli(['--db', join(dir, 'pmm.dbb'), ...argv], env, 'atrest:v1:AAAA\n');
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, `error ATREST_NOT_INITIALIZED: The database ${join(dir, 'pmm.dbb')} does not exist.`);
    t.match(r.err, 'Check the database path', 'and says what to check');
  }
  t.same(readdirSync(dir), [], 'no database file, no key directory');
});

t.test('a migration on a mistyped database path: refused, and no database or key file is made', async (t) => {
  const dir = tempDir('atrest-ro-');
  const env = { MB_ENCRYPTION_KEY_PATH: join(dir, 'srv', 'mb-encryption.key') };
  const migrations = [
    ['secrets-migration', 're-encrypt'],
    ['secrets-migration', 're-encrypt-data-keys'],
    ['secrets-migration', 'rotate-data-keys'],
    ['secrets-migration', 'cleanup'],
    ['secrets-migration', 'unlock'],
    ['rotate-encryption-key'],
  ];
  for (const argv of migrations) {
    const r = await cli(['--db', join(dir, 'pmm.dbb'), ...argv], env);
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, `error ATREST_NOT_INITIALIZED: The database ${join(dir, 'pmm.dbb')} does not exist.`);
    t.match(r.err, `'${argv.join(' ')}' works on the application's existing database`, 'and says why');
  }
  t.same(readdirSync(dir), [], 'no database file, no key directory');
  const legacy = join(dir, 'legacy.db');
  const app = new Database(legacy);
  app.exec('CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT)');
  app.close();
  const first = await cli(['--db', legacy, 'secrets-migration', 're-encrypt'], env);
  t.equal(first.code, 0, "an existing database that atrest never set up: re-encrypt makes atrest's tables");
});

t.test("a read on the application's database that atrest never set up creates no table and no key", async (t) => {
  const dir = tempDir('atrest-ro-');
  const db = join(dir, 'metabase.db');
  const app = new Database(db);
  app.exec('CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT)');
  app.close();
  const env = { MB_ENCRYPTION_KEY_PATH: join(dir, 'mb-encryption.key') };
  for (const argv of readers) {
    const r = await cli(['--db', db, ...argv], env, 'atrest:v1:AAAA\n');
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, 'ATREST_NOT_INITIALIZED', 'not initialized');
    t.match(r.err, 'has no atrest tables');
  }
  const check = new Database(db, { readonly: true });
  t.same(
    check.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
    ['setting'],
    "only the application's table",
  );
  check.close();
  t.notOk(existsSync(env.MB_ENCRYPTION_KEY_PATH), 'no key file');
});

t.test('a key is made on first boot only: never by a read, never beside data keys', async (t) => {
  const dir = tempDir('atrest-ro-');
  const db = join(dir, 'app.db');
  const key = join(dir, 'mb-encryption.key');
  const env = { MB_ENCRYPTION_KEY_PATH: key };
  t.equal((await cli(['--db', db, 'init'], env)).code, 0, 'init: 0');
  renameSync(key, `${key}.moved`);
  for (const argv of readers) {
    const r = await cli(['--db', db, ...argv], env, 'atrest:v1:AAAA\n');
    t.equal(r.code, 2, `${argv.join(' ')} without the key file: exit 2`);
    t.match(r.err, `ATREST_KEY_MISSING: The key file ${key} is missing.`);
    t.match(r.err, 'never by a command that only reads', 'says why no key was made');
    t.notOk(existsSync(key), 'and made none');
  }
  renameSync(`${key}.moved`, key);
  t.equal((await cli(['--db', db, 'secrets', 'set', 'smtp'], env, 'value')).code, 0, 'a first write: 0');
  renameSync(key, `${key}.moved`);
  const write = await cli(['--db', db, 'secrets', 'set', 'other'], env, 'value');
  t.equal(write.code, 2, 'a write over existing data keys without their key: exit 2');
  t.match(write.err, 'The database holds data keys wrapped by it', 'says the data needs this key');
  t.match(write.err, /Missing key fingerprint: [0-9a-f]{16}; 1 value depends on it/, 'names the fingerprint');
  t.notOk(existsSync(key), 'no new key beside the data');
});

t.test('data keys of a provider that is not configured: the advice names the variable to set', async (t) => {
  const dir = tempDir('atrest-ro-');
  const db = join(dir, 'app.db');
  const passphrase = { MB_ENCRYPTION_SECRET_KEY: 'a long enough passphrase for the test box' };
  t.equal((await cli(['--db', db, 'secrets', 'set', 'smtp'], passphrase, 'value')).code, 0, 'stored under secret_key');
  const env = { MB_ENCRYPTION_KEY_PATH: join(dir, 'mb-encryption.key') };
  for (const argv of [['status'], ['secrets', 'get', 'smtp'], ['secrets', 'set', 'other']]) {
    const r = await cli(['--db', db, ...argv], env, 'value');
    t.equal(r.code, 2, `${argv.join(' ')} with the passphrase forgotten: exit 2`);
    t.match(r.err, 'ATREST_KEY_MISSING', 'no key file is made for the database');
    t.match(r.err, 'belong to other providers (secret_key.default: 1)', 'names the provider of the data');
    t.match(r.err, 'set MB_ENCRYPTION_SECRET_KEY (or [security] secret_key)', 'and the variable to set');
    t.notOk(existsSync(env.MB_ENCRYPTION_KEY_PATH), 'and made no key file');
  }
  const got = await cli(['--db', db, 'secrets', 'get', 'smtp'], passphrase);
  t.equal(got.out, 'value', 'with the passphrase the value reads');
});
