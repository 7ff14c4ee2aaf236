#!/usr/bin/env node
// Writes test/vectors/v1-more.json (issue 9 §8): a key file of three versions (two rotations) and a
// set per version (the data keys as they were wrapped under it, the values written by then), data
// keys with non-ASCII labels, values with non-ASCII contexts, and values of a JSON target's fields
// and of row-bound targets encrypted through { target, field, row }, each with the context bytes
// docs/FORMAT.md says they are bound to (written here from the rule, not taken from atrest), so a
// decryptor that follows FORMAT.md reads them. Same shape as v1.json; vectors.test reads both.
// Usage (after `npx tsc -b`): node test/vectors/generate-more.mjs
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openAtrest, silentLogger } from '@atrest/core';
import { fileProvider } from '@atrest/provider-file';

const dir = mkdtempSync(join(tmpdir(), 'atrest-vectors-more-'));
const keyPath = join(dir, 'vectors.key');
const database = join(dir, 'v.db');
const rowContext = (scope, key, row, field) =>
  `${scope}@${key}:${Buffer.byteLength(row, 'utf8')}:${row}${field === undefined ? '' : `.${field}`}`;
const values = [
  { name: 'non-ascii context', plaintext: 'mot de passe', opts: { context: 'données.mot_de_passe:秘密' } },
  { name: 'non-ascii label', plaintext: 'token ✓', opts: { context: 'c', scope: 'équipe-東京' } },
  { name: 'json target field', plaintext: '"s3cr3t"', opts: { target: 'data_source.json_data', field: 'password' }, context: 'data_source.json_data.password' },
  { name: 'row-bound target', plaintext: 'pw of row 42', opts: { target: 'data_source.password', row: 42 }, context: rowContext('data_source.password', 'uid', '42') },
  { name: 'row-bound non-ascii row key', plaintext: 'pw', opts: { target: 'data_source.password', row: 'ünïcødé-キー' }, context: rowContext('data_source.password', 'uid', 'ünïcødé-キー') },
  { name: 'row-bound json field', plaintext: 'tok', opts: { target: 'data_source.secure_json', row: 'u1', field: 'apiKey' }, context: rowContext('data_source.secure_json', 'uid', 'u1', 'apiKey') },
];
const options = {
  'security.encryption.file.default.key_path': keyPath,
  'secrets_migration.targets': 'data_source.password@uid data_source.json_data:json data_source.secure_json:json@uid',
};
const a = await openAtrest({ app: 'vectors', env: {}, database, options });
const out = [];
const readRows = () => {
  const db = new Database(database, { readonly: true });
  const rows = db.prepare('SELECT * FROM atrest_data_keys ORDER BY created_at, id').all();
  db.close();
  return rows;
};
// Before each rotation, the data keys as they were (wrapped under that key version) and the values
// so far: a set each, read with the final key file, whose older versions still unwrap them. So a
// decryptor must pick the key version a record names, not the primary one.
const snapshots = [];
// Values before each rotation and after the last: in the last set their data keys, re-wrapped, name version 3.
for (let round = 0; round < 3; round++) {
  for (const v of values) {
    const opts = { ...v.opts, scope: v.opts.scope ?? (v.opts.target === undefined ? 'vectors' : undefined) };
    if (opts.scope === undefined) delete opts.scope;
    const ct = await a.encrypt(v.plaintext, opts);
    const context = v.context ?? v.opts.context;
    out.push({
      name: `${v.name} (key file version ${round + 1})`,
      plaintext_hex: Buffer.from(v.plaintext).toString('hex'),
      context_hex: Buffer.from(context, 'utf8').toString('hex'),
      ciphertext_hex: ct.toString('hex'),
      armor: await a.encryptText(v.plaintext, opts),
    });
  }
  if (round < 2) {
    snapshots.push({ rows: readRows(), values: [...out] });
    await a.migrations.rotateEncryptionKey();
    await a.migrations.rotateDataKeys();
  }
}
await a.close();
const keyFile = readFileSync(keyPath, 'utf8');
const unwrapper = await fileProvider.create({
  id: 'file.default', type: 'file', name: 'default', config: { key_path: keyPath }, app: 'vectors',
  appRoot: process.cwd(), firstUse: false, logger: silentLogger,
});
const dataKeysOf = async (rows) => {
  const dataKeys = [];
  for (const row of rows) {
    const key = await unwrapper.unwrapKey({ ciphertext: row.wrapped, keyRef: row.key_ref }, { atrest_data_key: row.id, atrest_label: row.label });
    dataKeys.push({
      id: row.id, label: row.label, provider: row.provider, key_ref: row.key_ref,
      wrapped_hex: Buffer.from(row.wrapped).toString('hex'), data_key_hex: Buffer.from(key).toString('hex'), created_at: row.created_at,
    });
  }
  return dataKeys;
};
const sets = [];
for (const snap of [...snapshots, { rows: readRows(), values: out }]) {
  sets.push({ provider: 'file.default', data_keys: await dataKeysOf(snap.rows), values: snap.values, key_file: keyFile });
}
await unwrapper.close?.();
const file = { format: 'atrest test vectors', version: 1, generated_at: new Date().toISOString(), sets };
writeFileSync(new URL('./v1-more.json', import.meta.url), JSON.stringify(file, null, 2) + '\n');
const refs = sets.map((x) => new Set(x.data_keys.map((k) => k.key_ref)).size);
console.log(`wrote test/vectors/v1-more.json: ${sets.length} sets, ${out.length} values, ${JSON.parse(keyFile).keys.length} key versions, key versions named per set: ${refs.join(', ')}`);
