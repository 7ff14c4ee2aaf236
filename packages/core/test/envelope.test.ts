// The envelope engine over a real SQLite file, with a small real AES-GCM provider that counts calls.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { AtrestError, encodeContext } from '@atrest/core';
import type { EncryptionContext, KeyProvider, WrappedKey } from '@atrest/core';
import { CheckedProvider } from '../src/providers/checked.js';
import { Envelope, MAX_ENCRYPTIONS_PER_DATA_KEY } from '../src/envelope/envelope.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { armor, dearmor, HEADER_LENGTH, TAG_LENGTH } from '../src/envelope/format.js';
import { silentLogger } from '../src/logger.js';

class CountingProvider implements KeyProvider {
  wraps = 0;
  unwraps = 0;
  constructor(
    private readonly kek = randomBytes(32),
    private readonly delayMs = 0,
  ) {}
  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
    this.wraps++;
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.kek, nonce).setAAD(encodeContext(context));
    const body = Buffer.concat([c.update(dataKey), c.final()]);
    return { ciphertext: Buffer.concat([nonce, body, c.getAuthTag()]), keyRef: 'test-kek' };
  }
  async unwrapKey(w: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
    this.unwraps++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const b = Buffer.from(w.ciphertext);
    const d = createDecipheriv('aes-256-gcm', this.kek, b.subarray(0, 12)).setAAD(encodeContext(context));
    d.setAuthTag(b.subarray(b.length - 16));
    try {
      return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
    } catch (cause) {
      throw new AtrestError('ATREST_WRONG_KEY', 'test provider: wrong key', { cause });
    }
  }
}

function setup(provider = new CountingProvider(), file = join(tempDir('atrest-env-'), 'app.db')) {
  const store = openSqliteStore(file);
  const checked = new CheckedProvider('test.main', 'test', provider);
  const registry = { currentId: 'test.main', get: () => checked };
  const envelope = new Envelope(store, registry, 60_000, silentLogger);
  return { store, provider, envelope, file };
}

t.test('round trip, binary safe, context bound', async (t) => {
  const { envelope, store } = setup();
  const value = randomBytes(4096);
  const ct = await envelope.encrypt(value, 'tbl.col:1', 'tbl.col');
  t.equal(ct.length, value.length + HEADER_LENGTH + TAG_LENGTH, '48 bytes of overhead');
  t.same(await envelope.decrypt(ct, 'tbl.col:1'), value);
  await t.rejects(envelope.decrypt(ct, 'tbl.col:2'), { code: 'ATREST_DECRYPT_FAILED' }, 'another context fails');
  await t.rejects(envelope.decrypt(ct, undefined), { code: 'ATREST_DECRYPT_FAILED' }, 'no context fails');
  for (const at of [0, 3, 4, 20, HEADER_LENGTH, ct.length - 1]) {
    const bad = Buffer.from(ct);
    bad[at] = (bad[at] ?? 0) ^ 1;
    await t.rejects(envelope.decrypt(bad, 'tbl.col:1'), { name: 'AtrestError' }, `flipped byte ${at} refused`);
  }
  const empty = await envelope.encrypt('', undefined, 'x');
  t.equal((await envelope.decrypt(empty, undefined)).length, 0, 'empty plaintext round trips');
  t.same(dearmor(armor(ct)), ct, 'armor round trips');
  await store.close();
});

t.test('one data key per scope per day, committed before use, one wrap', async (t) => {
  const { envelope, store, provider } = setup();
  await Promise.all(Array.from({ length: 50 }, (_, i) => envelope.encrypt(`v${i}`, undefined, 'a')));
  await envelope.encrypt('x', undefined, 'b');
  t.equal(provider.wraps, 2, 'parallel encryptions share one new data key per scope');
  const keys = await store.listDataKeys();
  t.equal(keys.length, 2);
  t.match(keys[0]?.label, /^a\/\d{4}-\d{2}-\d{2}$/);
  t.equal(
    keys.every((k) => k.active),
    true,
  );
  await store.close();
});

t.test('single-flight unwrap: N values under K data keys cost K calls', async (t) => {
  const kek = randomBytes(32);
  const { envelope, store, file } = setup(new CountingProvider(kek));
  const cts = [];
  for (const scope of ['s1', 's2', 's3'])
    for (let i = 0; i < 20; i++) cts.push(await envelope.encrypt(`${scope}-${i}`, undefined, scope));
  await store.close();
  const reader = setup(new CountingProvider(kek, 20), file);
  const out = await Promise.all(cts.map((c) => reader.envelope.decrypt(c, undefined)));
  t.equal(out[0]?.toString(), 's1-0');
  t.equal(reader.provider.unwraps, 3, '60 concurrent decrypts under 3 data keys: 3 provider calls');
  await reader.store.close();
});

t.test('two processes racing for a new data key end with one active key', async (t) => {
  const kek = randomBytes(32);
  const a = setup(new CountingProvider(kek));
  const b = setup(new CountingProvider(kek), a.file);
  const [ca, cb] = await Promise.all([
    a.envelope.encrypt('from a', undefined, 'race'),
    b.envelope.encrypt('from b', undefined, 'race'),
  ]);
  const active = (await a.store.listDataKeys()).filter((k) => k.active && k.label.startsWith('race/'));
  t.equal(active.length, 1, 'exactly one active data key for the label');
  t.equal((await b.envelope.decrypt(ca, undefined)).toString(), 'from a');
  t.equal((await a.envelope.decrypt(cb, undefined)).toString(), 'from b');
  await a.store.close();
  await b.store.close();
});

t.test('the encryption cap retires a data key and starts a new one', async (t) => {
  const { envelope, store, file } = setup();
  await envelope.encrypt('first', undefined, 'cap');
  const [k] = await store.listDataKeys();
  const raw = new Database(file);
  raw
    .prepare('UPDATE atrest_data_keys SET encryptions_reserved = ? WHERE id = ?')
    .run(MAX_ENCRYPTIONS_PER_DATA_KEY, k?.id);
  raw.close();
  envelope.forgetActiveKeys();
  const ct = await envelope.encrypt('second', undefined, 'cap');
  const keys = await store.listDataKeys();
  t.equal(keys.length, 2, 'a second data key was made');
  t.equal(keys.find((x) => x.id === k?.id)?.active, false, 'the exhausted one is retired');
  t.equal((await envelope.decrypt(ct, undefined)).toString(), 'second');
  await store.close();
});

t.test('a wrong provider key is a typed error', async (t) => {
  const { envelope, store, file } = setup();
  const ct = await envelope.encrypt('secret', undefined, 'w');
  await store.close();
  const other = setup(new CountingProvider(), file);
  await t.rejects(other.envelope.decrypt(ct, undefined), { code: 'ATREST_WRONG_KEY' });
  await other.store.close();
});

t.test('an active data key is never used past its cache lifetime; expired keys are zeroed', async (t) => {
  const file = join(tempDir('atrest-env-'), 'app.db');
  const store = openSqliteStore(file);
  const checked = new CheckedProvider('test.main', 'test', new CountingProvider());
  const envelope = new Envelope(store, { currentId: 'test.main', get: () => checked }, 30, silentLogger, 5);
  const first = await envelope.encrypt('before', undefined, 'ttl');
  const active = await envelope.activeKeyFor('ttl');
  t.equal(envelope.usable(active), true, 'fresh: usable');
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(envelope.usable(active), false, 'past the lifetime: not usable');
  t.ok(active.key.equals(Buffer.alloc(32)), 'and its key was zeroed by the cleanup');
  t.throws(() => envelope.seal(active, 'x', undefined), { code: 'ATREST_INTERNAL' }, 'sealing with it is refused');
  const again = await envelope.activeKeyFor('ttl');
  t.not(again, active, 'the next encryption gets a fresh active key');
  t.notOk(again.key.equals(Buffer.alloc(32)), 'with a key');
  t.equal(again.id, active.id, 'of the same data key (its budget is not used up)');
  t.equal((await envelope.decrypt(first, undefined)).toString(), 'before', 'values from before still decrypt');
  envelope.clear();
  t.ok(again.key.equals(Buffer.alloc(32)), 'close zeroes every key');
  await store.close();
});
