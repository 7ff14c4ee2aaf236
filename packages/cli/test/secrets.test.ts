// The secrets table through the CLI: binary-safe values from stdin or a file, out to stdout or a
// private file, imports of many, and the values the CLI refuses (empty, or given as an argument).
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { writeIn } from '@atrest/testkit';
import { box, runAtrest, runInProcess } from './helpers.js';

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
  t.same(
    (JSON.parse(list.stdout.toString()) as { size: number }[]).map((s) => s.size),
    [big.length, Buffer.byteLength(pem)],
    "secrets list shows each value's size, not the stored size",
  );
  const text = (await runAtrest([...b.args, 'secrets', 'list'])).stdout.toString();
  t.match(text, new RegExp(`^ca\\.pem\t${Buffer.byteLength(pem)} bytes\tencrypted`, 'm'));
  t.equal((await runAtrest([...b.args, 'secrets', 'delete', 'big'])).code, 0);
  const gone = await runAtrest([...b.args, 'secrets', 'get', 'big']);
  t.equal(gone.code, 1, 'a missing secret is exit 1');
  t.match(gone.stderr, 'ATREST_SECRET_NOT_FOUND');
});

t.test('secrets import: JSON lines, text and base64; a bad line imports nothing', async (t) => {
  const b = box();
  const base64 = Buffer.from([0, 1, 2, 255]).toString('base64');
  const lines = `{"name":"a","value":"text a"}\n{"name":"b","value_base64":"${base64}"}\n`;
  const r = await runAtrest([...b.args, 'secrets', 'import'], { input: lines });
  t.equal(r.code, 0, r.stderr);
  t.same([...(await runAtrest([...b.args, 'secrets', 'get', 'b'])).stdout], [0, 1, 2, 255]);
  const bad = await runAtrest([...b.args, 'secrets', 'import'], { input: `{"name":"c","value":"ok"}\n{"name":"d"}\n` });
  t.equal(bad.code, 2);
  t.match(bad.stderr, 'line 2');
  t.equal((await runAtrest([...b.args, 'secrets', 'get', 'c'])).code, 1, 'line 1 was not imported either');
  const json = await runInProcess([...b.args, 'secrets', 'import', '--json'], { input: lines });
  t.equal(json.code, 0, json.stderr);
  t.same(JSON.parse(json.stdout.toString()), { imported: 2 }, '--json: the count as data on stdout');
});

t.test(
  'secrets set: an empty value needs --allow-empty; a value given as an argument is refused, not repeated',
  async (t) => {
    const b = box();
    const empty = await runAtrest([...b.args, 'secrets', 'set', 'smtp'], { input: '' });
    t.equal(empty.code, 2, 'an empty pipe is a usage error');
    t.match(empty.stderr, 'error ATREST_USAGE: The value for smtp is empty (nothing on stdin); nothing was stored.');
    t.match(empty.stderr, '--allow-empty', 'and says how to store an empty value on purpose');
    // Nothing was stored, not even the database: a read finds no atrest database (issue 9 §1).
    const nothing = await runAtrest([...b.args, 'secrets', 'get', 'smtp']);
    t.equal(nothing.code, 2, 'nothing was stored');
    t.match(nothing.stderr, 'error ATREST_NOT_INITIALIZED', 'not even the database');
    const emptyFile = writeIn(b.dir, 'empty.txt', '');
    const fromFile = await runAtrest([...b.args, 'secrets', 'set', 'smtp', '--value-file', emptyFile]);
    t.equal(fromFile.code, 2);
    t.match(fromFile.stderr, `(${emptyFile} is empty)`, 'an empty file is named');
    const allowed = await runAtrest([...b.args, 'secrets', 'set', 'smtp', '--allow-empty'], { input: '' });
    t.equal(allowed.code, 0, allowed.stderr);
    t.match(allowed.stderr, 'stored smtp (0 bytes)');
    const got = await runAtrest([...b.args, 'secrets', 'get', 'smtp']);
    t.equal(got.code, 0, got.stderr);
    t.equal(got.stdout.length, 0, 'the empty value reads back');
    const argv = await runAtrest([...b.args, 'secrets', 'set', 'smtp', 'hunter2-smtp-password']);
    t.equal(argv.code, 2, 'a value as a second argument is refused');
    t.match(argv.stderr, 'A secret is never taken from the command line');
    t.match(argv.stderr, /printf %s "\$VALUE" \| atrest secrets set NAME/, 'the stdin form is shown');
    t.match(argv.stderr, '--value-file FILE', 'and the file form');
    t.notMatch(argv.stderr, 'hunter2', 'the value is not repeated');
    t.equal((await runAtrest([...b.args, 'secrets', 'get', 'smtp'])).stdout.length, 0, 'the stored value is unchanged');
  },
);

t.test(
  'secrets get --out: a new 0600 file, never over another without --force, only in a private directory',
  async (t) => {
    const b = box();
    const der = randomBytes(2048);
    writeIn(b.dir, 'ca.der', der);
    const set = await runAtrest([...b.args, 'secrets', 'set', 'ca', '--value-file', join(b.dir, 'ca.der')]);
    t.equal(set.code, 0, set.stderr);
    const dir = join(b.dir, 'private');
    mkdirSync(dir, { mode: 0o700 });
    const out = join(dir, 'ca.der');
    const r = await runAtrest([...b.args, 'secrets', 'get', 'ca', '--out', out]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.length, 0, 'nothing on stdout');
    t.match(r.stderr, `wrote ca to ${out} (2048 bytes, mode 0600)`);
    t.ok(readFileSync(out).equals(der), 'the file holds the value, byte for byte');
    t.equal(statSync(out).mode & 0o777, 0o600, 'mode 0600');
    writeFileSync(out, 'an older file');
    chmodSync(out, 0o644);
    const exists = await runAtrest([...b.args, 'secrets', 'get', 'ca', '--out', out]);
    t.equal(exists.code, 2, 'an existing file is not replaced');
    t.match(exists.stderr, `--out ${out} exists. Add --force to replace it`);
    t.equal(readFileSync(out, 'utf8'), 'an older file', 'and is left as it was');
    const forced = await runAtrest([...b.args, 'secrets', 'get', 'ca', '--out', out, '--force']);
    t.equal(forced.code, 0, forced.stderr);
    t.ok(readFileSync(out).equals(der), '--force replaces it');
    t.equal(statSync(out).mode & 0o777, 0o600, 'with a 0600 file');
    t.same(readdirSync(dir), ['ca.der'], 'no temporary file is left behind');
    const shared = join(b.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const open = await runAtrest([...b.args, 'secrets', 'get', 'ca', '--out', join(shared, 'ca.der')]);
    t.equal(open.code, 2, 'a directory other users can write to is refused');
    t.match(open.stderr, `its directory ${shared} is writable by other users (mode 777)`);
    t.same(readdirSync(shared), [], 'nothing was written there');
    const missing = await runAtrest([...b.args, 'secrets', 'get', 'nope', '--out', join(dir, 'nope')]);
    t.equal(missing.code, 1);
    t.match(missing.stderr, 'ATREST_SECRET_NOT_FOUND');
    t.notOk(existsSync(join(dir, 'nope')), 'no file for a missing secret');
  },
);
