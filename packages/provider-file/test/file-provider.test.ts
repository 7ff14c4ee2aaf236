import {
  chmodSync,
  existsSync,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runProviderConformance, tempDir } from '@atrest/testkit';
import { addKeyVersion, fileProvider, fingerprint, openKeyFile, readKeyFile } from '@atrest/provider-file';

const dir = () => tempDir('atrest-file-');
const ctx = { atrest_data_key: 'ab', atrest_label: 'x/2026-01-01' };

t.test('conformance', async (t) => {
  const d = dir();
  await runProviderConformance(t, {
    definition: fileProvider,
    type: 'file',
    config: { key_path: join(d, 'a.key') },
    otherConfig: { key_path: join(d, 'b.key') },
  });
});

t.test('first boot creates the key file 0600 in new 0700 directories', async (t) => {
  const d = dir();
  const path = join(d, 'deep', 'er', 'app-encryption.key');
  const p = openKeyFile(path, true);
  t.equal(statSync(path).mode & 0o777, 0o600, 'key file is 0600');
  t.equal(statSync(join(d, 'deep')).mode & 0o777, 0o700, 'created parent is 0700');
  t.equal(statSync(join(d, 'deep', 'er')).mode & 0o777, 0o700, 'created parent is 0700');
  const ring = readKeyFile(path);
  t.equal(ring.keys.length, 1);
  t.equal(ring.primary, 1);
  t.equal(p.describe()['fingerprint'], ring.keys[0]?.fingerprint);
  t.same(readdirSync(join(d, 'deep', 'er')), ['app-encryption.key'], 'no temporary file left behind');
  const before = readFileSync(path, 'utf8');
  openKeyFile(path, true);
  t.equal(readFileSync(path, 'utf8'), before, 'opening again never rewrites it');
});

t.test('a missing key file is never regenerated once data keys exist', async (t) => {
  const path = join(dir(), 'gone.key');
  t.throws(() => openKeyFile(path, false), { code: 'ATREST_KEY_MISSING' });
  t.notOk(existsSync(path), 'nothing was created');
});

t.test('a key file readable by others is refused with the chmod to run', async (t) => {
  const path = join(dir(), 'open.key');
  openKeyFile(path, true);
  chmodSync(path, 0o644);
  const err = t.throws(() => openKeyFile(path, false), { code: 'ATREST_KEY_FILE_PERMISSIONS' }) as unknown as Error;
  t.match(err.message, `chmod 600 ${path}`);
});

t.test('a damaged key file is refused, not replaced', async (t) => {
  const path = join(dir(), 'bad.key');
  writeFileSync(path, '{"atrest_key_file":1,"primary":1,"keys":[{"version":1,"key":"c2hvcnQ="}]}', { mode: 0o600 });
  t.throws(() => openKeyFile(path, true), { code: 'ATREST_KEY_FILE_INVALID' });
  t.match(readFileSync(path, 'utf8'), 'c2hvcnQ=', 'left as it was');
});

t.test('rotation adds a primary version and keeps the old one', async (t) => {
  const path = join(dir(), 'rot.key');
  const p1 = openKeyFile(path, true);
  const key = new Uint8Array(32).fill(7);
  const w1 = await p1.wrapKey(key, ctx);
  t.equal(p1.rotation.kind, 'generated-key', 'declares a generated-key rotation');
  t.equal(p1.currentKeyRef, w1.keyRef, 'the current keyRef is what it wraps with');
  const p2 = await p1.rotation.rotate();
  const ring = readKeyFile(path);
  t.equal(ring.keys.length, 2);
  t.equal(ring.primary, 2);
  t.equal(statSync(path).mode & 0o777, 0o600, 'still 0600 after rotation');
  const w2 = await p2.wrapKey(key, ctx);
  t.not(w2.keyRef, w1.keyRef, 'new wraps use the new version');
  t.equal(p2.currentKeyRef, w2.keyRef, 'the rotated provider names its new current key');
  t.equal(w2.keyRef, fingerprint(ring.keys[1]?.key ?? new Uint8Array()));
  t.same(Buffer.from(await p2.unwrapKey(w1, ctx)), Buffer.from(key), 'old wraps still unwrap');
  addKeyVersion(path);
  t.equal(readKeyFile(path).keys.length, 3);
});

t.test('a different key file is a mismatch naming both fingerprints', async (t) => {
  const a = openKeyFile(join(dir(), 'a.key'), true);
  const b = openKeyFile(join(dir(), 'b.key'), true);
  const w = await a.wrapKey(new Uint8Array(32).fill(1), ctx);
  await t.rejects(b.unwrapKey(w, ctx), { code: 'ATREST_KEY_MISMATCH' });
});

// Bring your own key (PMM's custom key): what `openssl rand -base64 32` or `-hex 32` writes.
const ownKey = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff', 'hex');

for (const [encoding, text] of [
  ['base64', `${ownKey.toString('base64')}\n`],
  ['hex', `${ownKey.toString('hex')}\n`],
] as const) {
  t.test(`an operator's own key as ${encoding} is a one-version key with its fingerprint`, async (t) => {
    const path = join(dir(), 'own.key');
    writeFileSync(path, text, { mode: 0o600 });
    const p = openKeyFile(path, true);
    t.equal(p.describe()['fingerprint'], fingerprint(ownKey), 'the fingerprint of the key in the file');
    t.equal(p.describe()['format'], encoding, 'status tells the bare key apart');
    const ring = readKeyFile(path);
    t.same(
      ring.keys.map((k) => [k.version, k.key.toString('hex')]),
      [[1, ownKey.toString('hex')]],
      'one version: the key itself',
    );
    const w = await p.wrapKey(new Uint8Array(32).fill(3), ctx);
    t.equal(w.keyRef, fingerprint(ownKey));
    t.same(Buffer.from(await openKeyFile(path, false).unwrapKey(w, ctx)), Buffer.alloc(32, 3), 'unwraps again');
    t.equal(readFileSync(path, 'utf8'), text, 'the file is left as the operator wrote it');
  });
}

t.test('a bare key of the wrong size or spelling is refused, named and left alone', async (t) => {
  const cases: [string, RegExp][] = [
    [`${Buffer.alloc(16, 1).toString('base64')}\n`, /base64 of 16 bytes; a key is 32/],
    [`${'ab'.repeat(16)}\n`, /32 hex digits; a key is 64/],
    ['my passphrase is long\n', /neither atrest JSON nor a bare key/],
  ];
  for (const [text, why] of cases) {
    const path = join(dir(), 'bad-own.key');
    writeFileSync(path, text, { mode: 0o600 });
    const err = t.throws(() => openKeyFile(path, true), { code: 'ATREST_KEY_FILE_INVALID' }) as unknown as Error;
    t.match(err.message, why);
    t.match(err.message, path, 'names the file');
    t.match(err.message, 'openssl rand -base64 32', 'shows the forms accepted');
    t.notMatch(err.message, text.trim(), 'never repeats what the file holds');
    t.equal(readFileSync(path, 'utf8'), text, 'left as it was');
  }
});

t.test("rotation converts an operator's key file atomically, keeping the original as a backup", async (t) => {
  const d = dir();
  const path = join(d, 'own.key');
  const original = `${ownKey.toString('base64')}\n`;
  writeFileSync(path, original, { mode: 0o600 });
  const p1 = openKeyFile(path, true);
  const w1 = await p1.wrapKey(new Uint8Array(32).fill(9), ctx);
  const p2 = await p1.rotation.rotate();
  const ring = readKeyFile(path);
  t.equal(ring.bare, undefined, "now atrest's versioned format");
  t.same(
    ring.keys.map((k) => k.version),
    [1, 2],
  );
  t.equal(ring.primary, 2);
  t.equal(ring.keys[0]?.key.toString('hex'), ownKey.toString('hex'), 'version 1 is the operator key');
  t.match(JSON.parse(readFileSync(path, 'utf8')), { atrest_key_file: 1, primary: 2 });
  t.equal(statSync(path).mode & 0o777, 0o600);
  const backup = join(d, `own.key.${fingerprint(ownKey)}.bak`);
  t.equal(readFileSync(backup, 'utf8'), original, 'the backup holds the file as it was');
  t.equal(statSync(backup).mode & 0o777, 0o600, 'the backup is private too');
  t.same(readdirSync(d).sort(), ['own.key', `own.key.${fingerprint(ownKey)}.bak`], 'no temporary file left');
  t.same(Buffer.from(await p2.unwrapKey(w1, ctx)), Buffer.alloc(32, 9), 'the old wraps still unwrap');
  t.match(p2.describe?.(), { format: 'atrest', original_key_file: backup }, 'status names the copy of the key');
  addKeyVersion(path);
  t.equal(readKeyFile(path).keys.length, 3, 'later rotations add versions');
  t.equal(readdirSync(d).length, 2, 'and make no more backups');
});

t.test('a rotation interrupted after the backup finishes; a foreign file at the backup path stops it', async (t) => {
  const d = dir();
  const path = join(d, 'own.key');
  const original = `${ownKey.toString('hex')}\n`;
  const backup = `${path}.${fingerprint(ownKey)}.bak`;
  writeFileSync(path, original, { mode: 0o600 });
  writeFileSync(backup, original, { mode: 0o600 });
  addKeyVersion(path);
  t.equal(readKeyFile(path).keys.length, 2, 'the backup of the interrupted run is the same: converted');
  writeFileSync(path, original, { mode: 0o600 });
  writeFileSync(backup, 'something else', { mode: 0o600 });
  const err = t.throws(() => addKeyVersion(path), { code: 'ATREST_KEY_FILE_INVALID' }) as unknown as Error;
  t.match(err.message, backup);
  t.equal(readFileSync(path, 'utf8'), original, 'nothing was rotated');
  t.equal(readFileSync(backup, 'utf8'), 'something else', 'and the other file is left alone');
});

t.test("a key file reached through a symlink: rotation and prune write the link's target", async (t) => {
  const store = dir();
  const links = dir();
  const target = join(store, 'real.key');
  const link = join(links, 'app.key');
  const p1 = openKeyFile(target, true);
  symlinkSync(target, link);
  const viaLink = openKeyFile(link, false);
  const key = new Uint8Array(32).fill(3);
  const w1 = await viaLink.wrapKey(key, ctx);
  t.equal(w1.keyRef, p1.currentKeyRef, 'the link opens the same key');
  const p2 = await viaLink.rotation.rotate();
  t.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  t.equal(readlinkSync(link), target, 'to the same target');
  t.same(
    readKeyFile(target).keys.map((k) => k.version),
    [1, 2],
    'the target holds both versions',
  );
  t.equal(statSync(target).mode & 0o777, 0o600, 'still 0600');
  t.same(readdirSync(store), ['real.key'], "the new file was made in the target's directory, no temporary left");
  t.same(readdirSync(links), ['app.key'], 'nothing beside the link');
  const w2 = await p2.wrapKey(key, ctx);
  t.same(
    Buffer.from(await openKeyFile(target, false).unwrapKey(w2, ctx)),
    Buffer.from(key),
    'the target has the new key',
  );
  const removed = await openKeyFile(link, false).rotation.prune([w2.keyRef]);
  t.same(removed, [w1.keyRef], 'prune removes version 1');
  t.ok(lstatSync(link).isSymbolicLink(), 'and the link stays a link');
  t.same(
    readKeyFile(link).keys.map((k) => k.version),
    [2],
    'read through the link: version 2 only',
  );
});
