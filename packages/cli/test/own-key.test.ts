// Bring your own key (PMM's custom key), as an operator does it: a key made with openssl put at the
// key path before the first start is used as it is, its fingerprint shown; the first rotation
// converts the file to atrest's versioned format and keeps the original beside it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import t from 'tap';
import { fingerprint } from '@atrest/provider-file';
import { box, runInProcess } from './helpers.js';

t.test('a base64 key of the operator: fingerprint shown, used, converted on rotation with a backup', async (t) => {
  const b = box();
  const key = randomBytes(32);
  mkdirSync(dirname(b.key), { mode: 0o700 });
  // What `(umask 077; openssl rand -base64 32 > key)` leaves.
  writeFileSync(b.key, `${key.toString('base64')}\n`, { mode: 0o600 });
  const init = await runInProcess([...b.args, 'init']);
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout.toString(), `fingerprint: ${fingerprint(key)}`, 'init shows the fingerprint of that key');
  t.match(init.stdout.toString(), 'format: base64');
  t.notMatch(init.stdout.toString() + init.stderr, key.toString('base64'), 'never the key itself');
  t.equal((await runInProcess([...b.args, 'secrets', 'set', 'smtp'], { input: 'hunter2' })).code, 0);

  const rotated = await runInProcess([...b.args, 'rotate-encryption-key']);
  t.equal(rotated.code, 0, rotated.stderr);
  const backup = `${b.key}.${fingerprint(key)}.bak`;
  t.match(rotated.stdout.toString(), `original_key_file=${backup}`, 'the rotation names the copy it kept');
  t.equal(readFileSync(backup, 'utf8'), `${key.toString('base64')}\n`, 'the original, byte for byte');
  const ring = JSON.parse(readFileSync(b.key, 'utf8')) as { primary: number; keys: { version: number; key: string }[] };
  t.equal(ring.primary, 2, 'a new primary version');
  t.equal(ring.keys.find((k) => k.version === 1)?.key, key.toString('base64'), 'the own key kept as version 1');
  t.same(readdirSync(dirname(b.key)).sort(), [
    `atrest-encryption.key`,
    `atrest-encryption.key.${fingerprint(key)}.bak`,
  ]);
  const got = await runInProcess([...b.args, 'secrets', 'get', 'smtp']);
  t.equal(got.stdout.toString(), 'hunter2', 'the secret still reads');
});

t.test('a hex key of the operator works the same; a 128-bit one is refused before anything is written', async (t) => {
  const b = box();
  mkdirSync(dirname(b.key), { mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(b.key, `${key.toString('hex')}\n`, { mode: 0o600 });
  const set = await runInProcess([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  t.equal(set.code, 0, set.stderr);
  const status = await runInProcess([...b.args, 'status', '--json']);
  const current = (JSON.parse(status.stdout.toString()) as { providers: { details: Record<string, unknown> }[] })
    .providers[0];
  t.match(current?.details, { fingerprint: fingerprint(key), format: 'hex', versions: 1 });

  const short = box();
  mkdirSync(dirname(short.key), { mode: 0o700 });
  writeFileSync(short.key, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const refused = await runInProcess([...short.args, 'secrets', 'set', 'x'], { input: 'v' });
  t.equal(refused.code, 2);
  t.match(refused.stderr, 'ATREST_KEY_FILE_INVALID');
  t.match(refused.stderr, '32 hex digits; a key is 64');
  t.match(refused.stderr, 'openssl rand -base64 32, or -hex 32');
});

t.test('--new-key-file with the key file provider: refused, the key file untouched', async (t) => {
  const b = box();
  t.equal((await runInProcess([...b.args, 'init'])).code, 0);
  const before = readFileSync(b.key, 'utf8');
  const mine = `${b.dir}/new.key`;
  writeFileSync(mine, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const r = await runInProcess([...b.args, 'rotate-encryption-key', '--new-key-file', mine]);
  t.equal(r.code, 2, 'a usage error');
  t.match(r.stderr, 'ATREST_USAGE: --new-key-file gives a new passphrase, but the current provider file.default');
  t.match(r.stderr, 'it makes its new key version itself; nothing was changed', 'says why');
  t.equal(readFileSync(b.key, 'utf8'), before, 'no new version was added behind the operator');
});
