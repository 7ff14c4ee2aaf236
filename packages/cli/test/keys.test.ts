// Keys as the CLI meets them: a key file moved away or foreign, passphrases short, wrong and right,
// tampered ciphertext, legacy plaintext, and a new key never taken from the command line.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import t from 'tap';
import { box, runAtrest } from './helpers.js';

t.test('a moved-away key file is refused, never regenerated, and the path named', async (t) => {
  const b = box();
  await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  renameSync(b.key, `${b.key}.bak`);
  const r = await runAtrest([...b.args, 'secrets', 'get', 'x']);
  t.equal(r.code, 2);
  t.match(r.stderr, 'ATREST_KEY_MISSING');
  t.match(r.stderr, b.key, 'names the path');
  t.match(r.stderr, /fingerprint: [0-9a-f]{16}; 1 value depends on it/, 'names the fingerprint and the dependents');
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

t.test(
  'decrypt: legacy plaintext is refused unless --allow-plaintext, which passes it through unchanged',
  async (t) => {
    const b = box();
    t.equal((await runAtrest([...b.args, 'init'])).code, 0);
    const refused = await runAtrest([...b.args, 'decrypt'], { input: 'legacy password\n' });
    t.equal(refused.code, 1);
    t.match(refused.stderr, 'error ATREST_NOT_ENCRYPTED: stdin is not atrest ciphertext');
    t.match(refused.stderr, 'add --allow-plaintext', 'the advice is the CLI option');
    t.notMatch(refused.stderr, 'allowPlaintext', 'not the option of the embedding API');
    t.equal(refused.stdout.length, 0);
    const passed = await runAtrest([...b.args, 'decrypt', '--allow-plaintext'], { input: 'legacy password\n' });
    t.equal(passed.code, 0, passed.stderr);
    t.equal(passed.stdout.toString(), 'legacy password\n', 'byte for byte as it came');
    const enc = await runAtrest([...b.args, 'encrypt'], { input: 'a new value' });
    const dec = await runAtrest([...b.args, 'decrypt', '--allow-plaintext'], { input: enc.stdout });
    t.equal(dec.stdout.toString(), 'a new value', 'ciphertext is still decrypted');
    const text = enc.stdout.toString().trim();
    const tampered = `${text.slice(0, 30)}${text[30] === 'A' ? 'B' : 'A'}${text.slice(31)}`;
    const bad = await runAtrest([...b.args, 'decrypt', '--allow-plaintext'], { input: tampered });
    t.not(bad.code, 0, 'tampered ciphertext is refused even so');
    t.equal(bad.stdout.length, 0, 'and nothing is printed');
  },
);

t.test('rotate-encryption-key NEW: the new key never comes from argv, and the message shows what works', async (t) => {
  const b = box();
  const env = { ATREST_ENCRYPTION_SECRET_KEY: 'correct horse battery staple' };
  t.equal((await runAtrest(['--db', b.db, 'secrets', 'set', 'x'], { input: 'v', env })).code, 0);
  for (const argv of [['my new passphrase 2026'], ['']]) {
    const r = await runAtrest(['--db', b.db, 'rotate-encryption-key', ...argv], { env });
    t.equal(r.code, 2, `rotate-encryption-key ${JSON.stringify(argv[0])}: usage error`);
    t.match(r.stderr, "error ATREST_USAGE: 'rotate-encryption-key' takes no new key as an argument");
    t.match(r.stderr, /visible to every user of the machine \(ps, \/proc\) and stay in the shell's history/, 'why');
    t.match(r.stderr, 'printf %s "$NEW_PASSPHRASE" | atrest rotate-encryption-key', 'the stdin form');
    t.match(r.stderr, 'atrest rotate-encryption-key --new-key-file FILE', 'the file form');
    t.match(r.stderr, 'empty passphrase with --yes', 'and how to turn encryption off');
    t.notMatch(r.stderr, 'my new passphrase', 'the argument is not repeated');
    t.notMatch(r.stderr, 'wrong number of arguments');
  }
  const still = await runAtrest(['--db', b.db, 'secrets', 'get', 'x'], { env });
  t.equal(still.stdout.toString(), 'v', 'nothing was rotated: the old passphrase still opens the data');
});
