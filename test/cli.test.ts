// The atrest CLI as an operator uses it: real processes, real files in temporary directories.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { runAtrest } from './helpers.js';

function box() {
  const dir = tempDir('atrest-cli-');
  const key = join(dir, 'srv', 'atrest-encryption.key');
  const db = join(dir, 'app.db');
  return { dir, key, db, args: ['--db', db, '--key-path', key] };
}

t.test('init creates a 0600 key file (key-path override) and is idempotent', async (t) => {
  const b = box();
  const r = await runAtrest([...b.args, 'init']);
  t.equal(r.code, 0, r.stderr);
  t.equal(statSync(b.key).mode & 0o777, 0o600, 'key file 0600');
  t.equal(statSync(join(b.dir, 'srv')).mode & 0o777, 0o700, 'created directory 0700');
  const fp = /fingerprint: ([0-9a-f]{16})/.exec(r.stdout.toString())?.[1];
  t.ok(fp, 'prints the fingerprint');
  t.match(r.stdout.toString(), `key_path: ${b.key}`, 'prints the key path');
  const before = readFileSync(b.key);
  const again = await runAtrest([...b.args, 'init']);
  t.equal(again.code, 0);
  t.match(again.stdout.toString(), `fingerprint: ${fp}`, 'same key the second time');
  t.same(readFileSync(b.key), before, 'key file untouched');
  const env = await runAtrest(['--db', join(b.dir, 'env.db'), 'init'], {
    env: { ATREST_ENCRYPTION_KEY_PATH: join(b.dir, 'env', 'k.key') },
  });
  t.equal(env.code, 0, env.stderr);
  t.ok(existsSync(join(b.dir, 'env', 'k.key')), 'ATREST_ENCRYPTION_KEY_PATH moves the key file');
});

t.test('binary round trips: a 1 MiB random file and a PEM certificate', async (t) => {
  const b = box();
  const big = randomBytes(1024 * 1024);
  writeFileSync(join(b.dir, 'big.bin'), big);
  t.equal((await runAtrest([...b.args, 'secrets', 'set', 'big', '--value-file', join(b.dir, 'big.bin')])).code, 0);
  const got = await runAtrest([...b.args, 'secrets', 'get', 'big']);
  t.equal(got.code, 0, got.stderr);
  t.ok(got.stdout.equals(big), '1 MiB of random bytes back, byte for byte');
  const pem = `-----BEGIN CERTIFICATE-----\n${randomBytes(600)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
  t.equal((await runAtrest([...b.args, 'secrets', 'set', 'ca.pem'], { input: pem })).code, 0, 'value from stdin');
  t.equal(
    (await runAtrest([...b.args, 'secrets', 'get', 'ca.pem'])).stdout.toString(),
    pem,
    'PEM back exactly, newlines included',
  );
  const enc = await runAtrest([...b.args, 'encrypt', '--context', 'files/big'], { input: big });
  t.match(enc.stdout.toString(), /^atrest:v1:[A-Za-z0-9_-]+\n$/, 'text armor');
  const dec = await runAtrest([...b.args, 'decrypt', '--context', 'files/big'], { input: enc.stdout });
  t.ok(dec.stdout.equals(big), 'encrypt | decrypt is the identity on binary data');
  const list = await runAtrest([...b.args, 'secrets', 'list', '--json']);
  t.same(
    (JSON.parse(list.stdout.toString()) as { name: string }[]).map((s) => s.name),
    ['big', 'ca.pem'],
  );
  t.equal((await runAtrest([...b.args, 'secrets', 'delete', 'big'])).code, 0);
  const gone = await runAtrest([...b.args, 'secrets', 'get', 'big']);
  t.equal(gone.code, 1, 'a missing secret is exit 1');
  t.match(gone.stderr, 'ATREST_SECRET_NOT_FOUND');
});

t.test('secrets import: JSON lines, text and base64; a bad line imports nothing', async (t) => {
  const b = box();
  const lines = `{"name":"a","value":"text a"}\n{"name":"b","value_base64":"${Buffer.from([0, 1, 2, 255]).toString('base64')}"}\n`;
  const r = await runAtrest([...b.args, 'secrets', 'import'], { input: lines });
  t.equal(r.code, 0, r.stderr);
  t.same([...(await runAtrest([...b.args, 'secrets', 'get', 'b'])).stdout], [0, 1, 2, 255]);
  const bad = await runAtrest([...b.args, 'secrets', 'import'], { input: `{"name":"c","value":"ok"}\n{"name":"d"}\n` });
  t.equal(bad.code, 2);
  t.match(bad.stderr, 'line 2');
  t.equal((await runAtrest([...b.args, 'secrets', 'get', 'c'])).code, 1, 'line 1 was not imported either');
});

t.test('a moved-away key file is refused, never regenerated, and the path named', async (t) => {
  const b = box();
  await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  renameSync(b.key, `${b.key}.bak`);
  const r = await runAtrest([...b.args, 'secrets', 'get', 'x']);
  t.equal(r.code, 2);
  t.match(r.stderr, 'ATREST_KEY_MISSING');
  t.match(r.stderr, b.key, 'names the path');
  t.match(r.stderr, /fingerprint: [0-9a-f]{16}; 1 secret depends on it/, 'names the fingerprint and the dependents');
  t.notOk(existsSync(b.key), 'no new key file was created');
  t.equal(r.stdout.length, 0);
});

t.test('a foreign key file is refused before anything is read or written', async (t) => {
  const b = box();
  await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  const other = box();
  await runAtrest([...other.args, 'init']);
  const before = readFileSync(b.db);
  const r = await runAtrest(['--db', b.db, '--key-path', other.key, 'secrets', 'set', 'y'], { input: 'w' });
  t.equal(r.code, 2);
  t.match(r.stderr, 'ATREST_KEY_MISMATCH');
  t.match(r.stderr, other.key);
  t.equal((await runAtrest([...b.args, 'secrets', 'get', 'y'])).code, 1, 'nothing was written');
  t.ok(before.length > 0);
});

t.test('passphrase mode: short, wrong, right', async (t) => {
  const b = box();
  const pass = 'correct horse battery staple';
  const ok = await runAtrest(['--db', b.db, 'secrets', 'set', 'p'], {
    input: 'pv',
    env: { ATREST_ENCRYPTION_SECRET_KEY: pass },
  });
  t.equal(ok.code, 0, ok.stderr);
  t.notOk(existsSync(b.key), 'no key file in passphrase mode');
  const short = await runAtrest(['--db', b.db, 'secrets', 'get', 'p'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: 'too-short' },
  });
  t.equal(short.code, 2);
  t.match(short.stderr, 'ATREST_CONFIG_INVALID');
  t.match(short.stderr, 'ATREST_ENCRYPTION_SECRET_KEY', 'names the variable');
  t.notMatch(short.stderr, 'too-short', 'never prints the passphrase');
  const wrong = await runAtrest(['--db', b.db, 'secrets', 'get', 'p'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: 'correct horse battery stapler' },
  });
  t.equal(wrong.code, 2);
  t.match(wrong.stderr, 'ATREST_WRONG_KEY');
  t.equal(wrong.stdout.length, 0, 'no garbage printed');
  const right = await runAtrest(['--db', b.db, 'secrets', 'get', 'p'], { env: { ATREST_ENCRYPTION_SECRET_KEY: pass } });
  t.equal(right.stdout.toString(), 'pv');
});

t.test('a tampered ciphertext is refused: non-zero exit, no plaintext', async (t) => {
  const b = box();
  const enc = (await runAtrest([...b.args, 'encrypt'], { input: 'the plaintext' })).stdout.toString().trim();
  for (const at of [12, 20, 40, enc.length - 2]) {
    const c = enc[at] === 'A' ? 'B' : 'A';
    const tampered = enc.slice(0, at) + c + enc.slice(at + 1);
    const r = await runAtrest([...b.args, 'decrypt'], { input: tampered });
    t.not(r.code, 0, `changed character ${at}: exit ${r.code}`);
    t.equal(r.stdout.length, 0, 'nothing on stdout');
    t.match(r.stderr, /ATREST_(DECRYPT_FAILED|FORMAT_INVALID|DATA_KEY_NOT_FOUND)/);
  }
  const wrongContext = await runAtrest([...b.args, 'decrypt', '--context', 'other'], { input: enc });
  t.equal(wrongContext.code, 1);
  t.equal(wrongContext.stdout.length, 0);
});

t.test('host INI: foreign sections ignored, typo refused, env over INI, no secret in config show', async (t) => {
  const b = box();
  const ini = join(b.dir, 'grafana.ini');
  writeFileSync(
    ini,
    [
      'app_mode = production',
      '[paths]',
      'data = /var/lib/grafana',
      '[server]',
      'http_port = 3000',
      '[database]',
      'type = sqlite3',
      `path = ${b.db}`,
      '[security]',
      'admin_user = admin',
      'admin_password = admin-password-not-atrests',
      'cookie_secure = true',
      'secret_key = SW2YcwTIb9zpOOhoPsMm-passphrase',
      '[security.encryption]',
      'data_keys_cache_ttl = 5m',
      '[auth.anonymous]',
      'enabled = false',
      '',
    ].join('\n'),
  );
  const show = await runAtrest(['--config', ini, 'config', 'show']);
  t.equal(show.code, 0, show.stderr);
  const text = show.stdout.toString();
  t.notMatch(text, 'SW2YcwTIb9zpOOhoPsMm', 'the passphrase is not shown');
  t.notMatch(text, 'admin_password', "foreign keys are not atrest's");
  t.match(text, 'secret_key.default', 'the default provider follows from the passphrase');
  t.match(text, /data_keys_cache_ttl.*5m|data_keys_cache_ttl.*300000/);
  const json = JSON.parse((await runAtrest(['--config', ini, 'config', 'show', '--json'])).stdout.toString()) as {
    key: string;
    value: unknown;
    origin: { source: string };
  }[];
  t.notMatch(JSON.stringify(json), 'SW2YcwTIb9zpOOhoPsMm', 'nor in JSON');
  const envOver = JSON.parse(
    (
      await runAtrest(['--config', ini, 'config', 'show', '--json'], {
        env: { ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '1h' },
      })
    ).stdout.toString(),
  ) as typeof json;
  const ttl = envOver.find((e) => e.key === 'security.encryption.data_keys_cache_ttl');
  t.equal(ttl?.origin.source, 'env', 'environment beats the INI file');
  const set = await runAtrest(['--config', ini, 'secrets', 'set', 'x'], { input: 'y' });
  t.equal(set.code, 0, `works against the host file: ${set.stderr}`);
  writeFileSync(ini, readFileSync(ini, 'utf8').replace('data_keys_cache_ttl = 5m', 'data_key_cache_ttl = 5m'));
  const typo = await runAtrest(['--config', ini, 'status']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.match(typo.stderr, 'data_keys_cache_ttl', 'suggests the right key');
  t.match(typo.stderr, ini, 'names the file');
});

t.test('status --json', async (t) => {
  const b = box();
  await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  const r = await runAtrest([...b.args, 'status', '--json']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.toString()) as {
    currentProvider: string;
    providers: { id: string; current: boolean; healthy: boolean; details: Record<string, unknown> }[];
    dataKeys: { byProvider: Record<string, { total: number }> };
    secrets: { total: number; plaintext: number; byProvider: Record<string, number> };
  };
  t.equal(s.currentProvider, 'file.default');
  t.match(s.providers, [
    { id: 'file.default', current: true, healthy: true, details: { key_path: b.key, mode: '0600' } },
  ]);
  t.equal(s.dataKeys.byProvider['file.default']?.total, 1);
  t.same(s.secrets.byProvider, { 'file.default': 1 });
  t.equal(s.secrets.plaintext, 0);
});

t.test('usage: --help everywhere, unknown command and option are exit 2', async (t) => {
  for (const cmd of [
    [],
    ['init'],
    ['status'],
    ['config', 'show'],
    ['secrets', 'set'],
    ['secrets', 'get'],
    ['secrets', 'list'],
    ['secrets', 'delete'],
    ['secrets', 'import'],
    ['encrypt'],
    ['decrypt'],
    ['secrets-migration', 're-encrypt'],
    ['secrets-migration', 're-encrypt-data-keys'],
    ['secrets-migration', 'rotate-data-keys'],
    ['rotate-encryption-key'],
  ]) {
    const r = await runAtrest([...cmd, '--help']);
    t.equal(r.code, 0, `${cmd.join(' ') || '(none)'} --help`);
    t.match(r.stdout.toString(), /^Usage: atrest/);
  }
  t.equal((await runAtrest(['frobnicate'])).code, 2);
  t.equal((await runAtrest(['status', '--frob'])).code, 2);
  t.equal((await runAtrest(['secrets', 'get'])).code, 2, 'missing argument');
});
