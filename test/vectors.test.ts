// Decrypts every committed test vector two ways: through atrest (key file / passphrase → wrapped
// data key → value), and with node:crypto alone following docs/FORMAT.md (so the spec is exact).
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { openAtrest, encodeContext } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

type Value = { name: string; plaintext_hex: string; context_hex: string | null; ciphertext_hex: string; armor: string };
type DataKey = {
  id: string;
  label: string;
  provider: string;
  key_ref: string;
  wrapped_hex: string;
  data_key_hex: string;
  created_at: string;
};
type VectorSet = {
  file?: string;
  provider: string;
  data_keys: DataKey[];
  values: Value[];
  key_file?: string;
  passphrase?: string;
};
// v1.json: the first vectors; v1-more.json: a key file of three versions, non-ASCII contexts and
// labels, a JSON target's fields and row-bound targets (issue 9 §8).
const readSets = (file: string): VectorSet[] =>
  (JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', file), 'utf8')) as { sets: VectorSet[] }).sets.map(
    (set) => ({ ...set, file }),
  );
const vectors = { sets: [...readSets('v1.json'), ...readSets('v1-more.json')] };
type Negative = { name: string; binary_hex?: string; armor?: string; error: string; details?: Record<string, number> };
const negative = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'v1-negative.json'), 'utf8')) as {
  provider: string;
  context_hex: string | null;
  cases: Negative[];
};

/** What docs/FORMAT.md §1–2 say a decryptor does, step by step; throws the error code it names. */
function specDecrypt(input: string | Buffer, keys: ReadonlyMap<string, Buffer>, context: Buffer): Buffer {
  let bytes: Buffer;
  if (typeof input === 'string') {
    if (!input.startsWith('atrest:v1:')) throw new Error('ATREST_FORMAT_INVALID');
    const body = input.slice('atrest:v1:'.length);
    if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) throw new Error('ATREST_FORMAT_INVALID');
    bytes = Buffer.from(body, 'base64url');
    if (bytes.toString('base64url') !== body) throw new Error('ATREST_FORMAT_INVALID');
  } else bytes = input;
  if (bytes.length < 4 || !bytes.subarray(0, 4).equals(Buffer.from([0x61, 0x74, 0x72, 0x01]))) {
    throw new Error('ATREST_FORMAT_INVALID');
  }
  if (bytes.length < 48) throw new Error('ATREST_FORMAT_INVALID');
  const key = keys.get(bytes.subarray(4, 20).toString('hex'));
  if (key === undefined) throw new Error('ATREST_DATA_KEY_NOT_FOUND');
  try {
    const aad = Buffer.concat([bytes.subarray(0, 32), context]);
    return gcmOpen(key, bytes.subarray(20, 32), bytes.subarray(32, -16), bytes.subarray(-16), aad);
  } catch {
    throw new Error('ATREST_DECRYPT_FAILED');
  }
}

const negativeInput = (c: Negative): string | Buffer => c.armor ?? Buffer.from(c.binary_hex ?? '', 'hex');

function gcmOpen(key: Buffer, nonce: Buffer, body: Buffer, tag: Buffer, aad: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]);
}

/** A new ciphertext under `key`, built by docs/FORMAT.md: magic ‖ version ‖ data key id ‖ nonce, body, tag. */
function formatSeal(dataKeyId: string, key: Buffer, plaintext: Buffer, context: Buffer): Buffer {
  const header = Buffer.concat([Buffer.from([0x61, 0x74, 0x72, 0x01]), Buffer.from(dataKeyId, 'hex'), randomBytes(12)]);
  const c = createCipheriv('aes-256-gcm', key, header.subarray(20));
  c.setAAD(Buffer.concat([header, context]));
  return Buffer.concat([header, c.update(plaintext), c.final(), c.getAuthTag()]);
}

for (const set of vectors.sets) {
  t.test(`${set.file} ${set.provider}: atrest reads every vector`, async (t) => {
    const dir = tempDir('atrest-vectors-');
    const database = join(dir, 'v.db');
    const options: Record<string, string> = {};
    if (set.key_file !== undefined) {
      const keyPath = join(dir, 'vectors.key');
      writeFileSync(keyPath, set.key_file, { mode: 0o600 });
      options['security.encryption.file.default.key_path'] = keyPath;
    }
    if (set.passphrase !== undefined) options['security.secret_key'] = set.passphrase;
    // Create atrest's tables, then put the committed data key records in, then open for real (canary included).
    await (await openAtrest({ app: 'vectors', env: {}, database, options })).close();
    const db = new Database(database);
    const ins = db.prepare(
      'INSERT INTO atrest_data_keys (id, label, provider, key_ref, wrapped, active, encryptions_reserved, ' +
        'created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)',
    );
    for (const k of set.data_keys)
      ins.run(k.id, k.label, k.provider, k.key_ref, Buffer.from(k.wrapped_hex, 'hex'), k.created_at, k.created_at);
    db.close();
    const a = await openAtrest({ app: 'vectors', env: {}, database, options });
    for (const v of set.values) {
      const context = v.context_hex === null ? undefined : Buffer.from(v.context_hex, 'hex');
      const opts = context === undefined ? {} : { context };
      t.equal(
        (await a.decrypt(Buffer.from(v.ciphertext_hex, 'hex'), opts)).toString('hex'),
        v.plaintext_hex,
        `${v.name}: binary`,
      );
      t.equal((await a.decrypt(v.armor, opts)).toString('hex'), v.plaintext_hex, `${v.name}: text armor`);
    }
    if (set.file === 'v1.json' && set.provider === negative.provider) {
      const opts = negative.context_hex === null ? {} : { context: Buffer.from(negative.context_hex, 'hex') };
      for (const c of negative.cases) {
        const err = await a.decrypt(negativeInput(c), { ...opts, allowPlaintext: true }).then(
          () => ({ code: 'accepted', details: {} }),
          (e: { code: string; details: Record<string, unknown> }) => e,
        );
        t.equal(err.code, c.error, `negative vector ${c.name}: refused, even with allowPlaintext`);
        if (c.details !== undefined) t.match(err.details, c.details, `${c.name}: details`);
      }
    }
    // A value sealed by the spec with the recorded data key decrypts only if atrest unwraps that very key.
    for (const k of set.data_keys) {
      const sealed = formatSeal(k.id, Buffer.from(k.data_key_hex, 'hex'), Buffer.from(k.id), Buffer.from('probe'));
      t.equal(
        (await a.decrypt(sealed, { context: 'probe' })).toString('hex'),
        Buffer.from(k.id).toString('hex'),
        `data key ${k.id} unwraps as recorded`,
      );
    }
    await a.close();
  });

  t.test(`${set.file} ${set.provider}: docs/FORMAT.md alone decrypts every vector`, async (t) => {
    const keys = new Map(set.data_keys.map((k) => [k.id, Buffer.from(k.data_key_hex, 'hex')]));
    if (set.file === 'v1.json' && set.provider === negative.provider) {
      const context = negative.context_hex === null ? Buffer.alloc(0) : Buffer.from(negative.context_hex, 'hex');
      for (const c of negative.cases) {
        t.throws(() => specDecrypt(negativeInput(c), keys, context), { message: c.error }, `negative: ${c.name}`);
      }
      for (const v of set.values) {
        const context = v.context_hex === null ? Buffer.alloc(0) : Buffer.from(v.context_hex, 'hex');
        t.equal(specDecrypt(v.armor, keys, context).toString('hex'), v.plaintext_hex, `${v.name}: spec decryptor`);
      }
    }
    for (const v of set.values) {
      for (const [how, bytes] of [
        ['binary', Buffer.from(v.ciphertext_hex, 'hex')],
        ['armor', Buffer.from(v.armor.slice('atrest:v1:'.length), 'base64url')],
      ] as const) {
        t.same([...bytes.subarray(0, 4)], [0x61, 0x74, 0x72, 0x01], `${v.name} ${how}: magic and version`);
        const key = keys.get(bytes.subarray(4, 20).toString('hex'));
        t.ok(key, `${v.name} ${how}: names a recorded data key`);
        const header = bytes.subarray(0, 32);
        const context = v.context_hex === null ? Buffer.alloc(0) : Buffer.from(v.context_hex, 'hex');
        const pt = gcmOpen(
          key ?? Buffer.alloc(32),
          bytes.subarray(20, 32),
          bytes.subarray(32, bytes.length - 16),
          bytes.subarray(bytes.length - 16),
          Buffer.concat([header, context]),
        );
        t.equal(pt.toString('hex'), v.plaintext_hex, `${v.name} ${how}: plaintext`);
      }
    }
    for (const k of set.data_keys) {
      const rec = Buffer.from(k.wrapped_hex, 'hex');
      const context = encodeContext({ atrest_data_key: k.id, atrest_label: k.label });
      let dataKey: Buffer;
      if (set.key_file !== undefined) {
        t.equal(rec.length, 69, 'file record is 69 bytes');
        const file = JSON.parse(set.key_file) as { keys: { key: string }[] };
        const fp = rec.subarray(1, 9);
        const kek = file.keys
          .map((x) => Buffer.from(x.key, 'base64'))
          .find((x) =>
            createHash('sha256').update('atrest-key-fingerprint:v1').update(x).digest().subarray(0, 8).equals(fp),
          );
        t.ok(kek, 'fingerprint names a key of the key file');
        t.equal(fp.toString('hex'), k.key_ref, 'key_ref is the fingerprint');
        dataKey = gcmOpen(
          kek ?? Buffer.alloc(32),
          rec.subarray(9, 21),
          rec.subarray(21, 53),
          rec.subarray(53),
          Buffer.concat([Buffer.from('atrest-file-wrap:v1'), fp, context]),
        );
      } else {
        t.equal(rec.length, 81, 'secret_key record is 81 bytes');
        const [log2N = 0, r = 0, p = 0] = [rec[2], rec[3], rec[4]];
        const kek = scryptSync((set.passphrase ?? '').normalize('NFC'), rec.subarray(5, 21), 32, {
          N: 2 ** log2N,
          r,
          p,
          maxmem: 256 * 1024 * 1024,
        });
        dataKey = gcmOpen(
          kek,
          rec.subarray(21, 33),
          rec.subarray(33, 65),
          rec.subarray(65),
          Buffer.concat([Buffer.from('atrest-secret-key-wrap:v1'), rec.subarray(0, 21), context]),
        );
      }
      t.equal(dataKey.toString('hex'), k.data_key_hex, `data key ${k.id} unwraps by the spec`);
    }
  });
}
