import { statSync, writeFileSync, chmodSync, readFileSync, existsSync, readdirSync } from 'node:fs';
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
