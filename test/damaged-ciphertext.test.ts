// A value that starts like ciphertext is never returned as plaintext, even with allowPlaintext:
// bit flips in the armor prefix and in the binary header (fuzzed and exhaustive), armor of another
// version, a truncated envelope, a secret whose `encrypted` flag was cleared; re-encrypt reports such
// values instead of encrypting them as plaintext, and the CLI's `decrypt --allow-plaintext` refuses
// them. Armor is canonical: one ciphertext, one spelling. Real plaintext still reads as plaintext.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { Atrest } from '@atrest/core';
import { runCli } from '@atrest/cli';
import { memoryStreams, rejection, tempDir } from '@atrest/testkit';

/** A deterministic pseudo-random generator (mulberry32): the fuzzing is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function flipBits(bytes: Buffer, positions: readonly number[]): Buffer {
  const out = Buffer.from(bytes);
  for (const p of positions) out[p >> 3] = (out[p >> 3] ?? 0) ^ (1 << (p & 7));
  return out;
}

const REFUSED = /^ATREST_(FORMAT_INVALID|DECRYPT_FAILED|DATA_KEY_NOT_FOUND)$/;

async function fixture(): Promise<{ a: Atrest; dir: string; database: string; options: Record<string, string> }> {
  const dir = tempDir('atrest-damaged-');
  const database = join(dir, 'app.db');
  const options = { 'security.encryption.file.default.key_path': join(dir, 'k.key') };
  const a = await openAtrest({
    database,
    env: { ATREST_SECRETS_MIGRATION_TARGETS: 'ds.password' },
    options,
  });
  return { a, dir, database, options };
}

/** How many of `values` come back (as anything) instead of being refused with one of the REFUSED codes. */
async function accepted(read: (v: never) => Promise<unknown>, values: readonly unknown[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const v of values) {
    try {
      await read(v as never);
      wrong.push(typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('hex'));
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!REFUSED.test(code)) wrong.push(`${code}: ${String(err)}`);
    }
  }
  return wrong;
}

t.test('bit flips in the armor prefix are refused, never returned as plaintext', async (t) => {
  const { a } = await fixture();
  t.teardown(() => a.close());
  const armored = await a.encryptText('the secret', { target: 'ds.password' });
  const bytes = Buffer.from(armored, 'latin1');
  const damaged: string[] = [];
  // Every single flip and every pair of flips in the 80 bits of the prefix, read as UTF-8 and as Latin-1.
  for (let i = 0; i < 80; i++) {
    for (let j = i; j < 80; j++) {
      const flipped = flipBits(bytes, i === j ? [i] : [i, j]);
      damaged.push(flipped.toString('utf8'), flipped.toString('latin1'));
    }
  }
  // And random runs of three to six flips.
  const next = random(9);
  for (let n = 0; n < 4000; n++) {
    const count = 3 + Math.floor(next() * 4);
    const flipped = flipBits(
      bytes,
      Array.from({ length: count }, () => Math.floor(next() * 80)),
    );
    if (!flipped.equals(bytes)) damaged.push(flipped.toString('latin1'));
  }
  const read = (v: string) => a.decryptText(v, { target: 'ds.password', allowPlaintext: true });
  t.same(await accepted(read, damaged), [], `${damaged.length} damaged prefixes: every one refused`);
});

t.test('bit flips in the binary header are refused, never returned as plaintext', async (t) => {
  const { a } = await fixture();
  t.teardown(() => a.close());
  const envelope = await a.encrypt('the secret', { context: 'files:1' });
  const damaged: Buffer[] = [];
  for (let i = 0; i < 256; i++)
    for (let j = i; j < 256; j += 7) damaged.push(flipBits(envelope, i === j ? [i] : [i, j]));
  // Any number of flips confined to the magic and version: the data key id still names this database's key.
  const next = random(4);
  for (let n = 0; n < 3000; n++) {
    const count = 1 + Math.floor(next() * 12);
    damaged.push(
      flipBits(
        envelope,
        Array.from({ length: count }, () => Math.floor(next() * 32)),
      ),
    );
  }
  const stillValid = damaged.filter((d) => d.equals(envelope)).length;
  const read = (v: Buffer) => a.decrypt(v, { context: 'files:1', allowPlaintext: true });
  const wrong = await accepted(read, damaged);
  t.equal(wrong.length, stillValid, `${damaged.length} damaged headers: only the unchanged ones (${stillValid}) read`);
  // A truncated envelope, an envelope of a future version, armor of another version or a bad body.
  const truncated = envelope.subarray(0, 30);
  t.equal((await rejection(read(truncated))).code, 'ATREST_FORMAT_INVALID', 'truncated below 48 bytes');
  const future = Buffer.from(envelope);
  future[3] = 2;
  const err = await rejection(read(future));
  t.match(err, { code: 'ATREST_FORMAT_INVALID', details: { version: 2 } }, 'a future version byte names itself');
  const text = await a.encryptText('x', { context: 'c' });
  for (const other of [`atrest:v2:${text.slice(10)}`, 'atrest:', 'atrest:v1', `atrest:V1:${text.slice(10)}`]) {
    const e = await rejection(a.decryptText(other, { context: 'c', allowPlaintext: true }));
    t.equal(e.code, 'ATREST_FORMAT_INVALID', `${other.slice(0, 12)}…: refused`);
  }
  t.match(
    await rejection(a.decryptText(`atrest:v7:${text.slice(10)}`, { allowPlaintext: true })),
    { details: { version: 7 } },
    'an armor version atrest does not know is named',
  );
});

t.test('armor is canonical: another spelling of the same bytes is refused', async (t) => {
  const { a } = await fixture();
  t.teardown(() => a.close());
  // 49 bytes: 66 base64url characters, the last one carrying 4 unused bits.
  const text = await a.encryptText('x', { context: 'c' });
  t.equal(await a.decryptText(text, { context: 'c' }), 'x', 'the canonical spelling reads');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(text.at(-1) ?? '');
  const spellings = [];
  for (let low = 1; low < 16; low++) spellings.push(text.slice(0, -1) + alphabet[(last & ~15) | low]);
  t.ok(
    spellings.every((s) => Buffer.from(s.slice(10), 'base64url').equals(Buffer.from(text.slice(10), 'base64url'))),
    'every spelling decodes to the same bytes',
  );
  for (const s of [...spellings, `${text}=`, `${text}==`, text.replace('atrest:v1:', 'atrest:v1: ')]) {
    t.equal((await rejection(a.decryptText(s, { context: 'c' }))).code, 'ATREST_FORMAT_INVALID', s.slice(-6));
  }
});

t.test('real plaintext is still plaintext: text and bytes, seeded random and typical', async (t) => {
  const { a } = await fixture();
  t.teardown(() => a.close());
  const next = random(1);
  const printable = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(next() * 95))).join('');
  const texts = [
    'atrium',
    'a test: v1: not ours',
    'at rest: v1',
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    JSON.stringify({ user: 'grafana', password: 'pw' }),
    ...Array.from({ length: 5000 }, () => printable(1 + Math.floor(next() * 64))),
  ];
  const wrong: string[] = [];
  for (const v of texts) {
    const got = await a.decryptText(v, { target: 'ds.password', allowPlaintext: true }).catch(String);
    if (got !== v) wrong.push(v);
  }
  t.same(wrong, [], `${texts.length} plaintexts read as they are`);
  let bytesWrong = 0;
  for (let n = 0; n < 5000; n++) {
    const v = Buffer.from(Array.from({ length: Math.floor(next() * 100) }, () => Math.floor(next() * 256)));
    if (!(await a.decrypt(v, { allowPlaintext: true })).equals(v)) bytesWrong++;
  }
  t.equal(bytesWrong, 0, '5000 random byte strings read as they are');
});

t.test('a secret whose encrypted flag was cleared is refused, and re-encrypt does not encrypt it again', async (t) => {
  const { a, database } = await fixture();
  t.teardown(() => a.close());
  await a.secrets.set('smtp', 'the password');
  const db = new Database(database);
  t.teardown(() => db.close());
  db.prepare("UPDATE atrest_secrets SET encrypted = 0 WHERE name = 'smtp'").run();
  const before = (db.prepare("SELECT value FROM atrest_secrets WHERE name = 'smtp'").get() as { value: Buffer }).value;
  t.equal((await rejection(a.secrets.get('smtp'))).code, 'ATREST_FORMAT_INVALID', 'not the ciphertext as a value');
  const [report] = await a.migrations.reEncrypt({ targets: ['atrest_secrets'] });
  t.match(report, { failed: 1, plaintextEncrypted: 0 }, 'reported, not encrypted as plaintext');
  t.equal(report?.failures[0]?.code, 'ATREST_FORMAT_INVALID');
  const after = db.prepare("SELECT value, encrypted FROM atrest_secrets WHERE name = 'smtp'").get() as {
    value: Buffer;
    encrypted: number;
  };
  t.ok(after.value.equals(before) && after.encrypted === 0, 'the row is left as it was');
});

t.test('a target cell with a damaged prefix: re-encrypt reports it and leaves it, status counts it', async (t) => {
  const { a, database } = await fixture();
  t.teardown(() => a.close());
  const db = new Database(database);
  t.teardown(() => db.close());
  db.exec('CREATE TABLE ds (id INTEGER PRIMARY KEY, password TEXT)');
  const good = await a.encryptText('pw', { target: 'ds.password' });
  const damaged = `atrest:v1;${good.slice(10)}`;
  const mangled = `xtrest:v1:${good.slice(10)}`;
  const insert = db.prepare('INSERT INTO ds (password) VALUES (?)');
  for (const v of [good, damaged, mangled, 'legacy plaintext']) insert.run(v);
  const status = await a.status();
  t.match(status.targets[0], { values: 4, plaintext: 1, encrypted: 3, byProvider: { '?': 2 } }, 'two damaged');
  const [, report] = await a.migrations.reEncrypt();
  t.match(report, { scanned: 4, plaintextEncrypted: 1, failed: 2 });
  t.same(
    report?.failures.map((f) => [f.row, f.code]),
    [
      ['2', 'ATREST_FORMAT_INVALID'],
      ['3', 'ATREST_FORMAT_INVALID'],
    ],
  );
  const cells = (db.prepare('SELECT password FROM ds ORDER BY id').all() as { password: string }[]).map(
    (r) => r.password,
  );
  t.same(cells.slice(1, 3), [damaged, mangled], 'the damaged cells are left as they were');
});

t.test('atrest decrypt --allow-plaintext refuses damaged ciphertext and still passes plaintext', async (t) => {
  const dir = tempDir('atrest-damaged-cli-');
  const args = ['--db', join(dir, 'app.db'), '--key-path', join(dir, 'k.key')];
  const run = async (argv: string[], input: string) => {
    const m = memoryStreams(input);
    const code = await runCli([...args, ...argv], { env: {}, io: m.io });
    return { code, out: m.out().toString('utf8'), err: m.err() };
  };
  const enc = await run(['encrypt'], 'the value');
  t.equal(enc.code, 0, enc.err);
  for (const damaged of [`atrest:v1;${enc.out.slice(10)}`, `Atrest:v1:${enc.out.slice(10)}`]) {
    const r = await run(['decrypt', '--allow-plaintext'], damaged);
    t.equal(r.code, 1, 'exit 1');
    t.match(r.err, 'error ATREST_FORMAT_INVALID');
    t.equal(r.out, '', 'nothing on stdout');
  }
  const plain = await run(['decrypt', '--allow-plaintext'], 'legacy value\n');
  t.equal(plain.out, 'legacy value\n', 'plaintext passes through unchanged');
});
