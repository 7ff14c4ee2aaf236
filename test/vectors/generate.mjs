#!/usr/bin/env node
// Writes test/vectors/v1.json: a key file, a passphrase, the data keys they wrapped (wrapped and in
// the clear), and ciphertexts (binary and text armor) with their plaintexts and contexts. Run once
// per format version; the committed file is what every later atrest must keep reading. The data
// keys are read from the database and unwrapped by the provider packages themselves.
// Usage (after `pnpm build`): node test/vectors/generate.mjs
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openAtrest, silentLogger } from '@atrest/core';
import { fileProvider, secretKeyProvider } from '@atrest/provider-file';

const dir = mkdtempSync(join(tmpdir(), 'atrest-vectors-'));
const plaintexts = [
  { name: 'empty', plaintext: Buffer.alloc(0), context: undefined },
  { name: 'ascii', plaintext: Buffer.from('correct horse battery staple'), context: 'datasources.password' },
  { name: 'utf8', plaintext: Buffer.from('päss wörd ✓ 秘密'), context: 'atrest_secrets:smtp' },
  { name: 'binary', plaintext: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), context: undefined },
  { name: 'binary-context', plaintext: Buffer.from([0, 0, 0, 255, 254]), context: Buffer.from([1, 2, 3, 0, 4]) },
  {
    name: 'pem',
    plaintext: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n'),
    context: 'tls.cert',
  },
];

async function vectorSet(provider, definition, config, options) {
  const database = join(dir, `${provider}.db`);
  const a = await openAtrest({ app: 'vectors', env: {}, database, ...options });
  const values = [];
  for (const p of plaintexts) {
    const opts = { ...(p.context !== undefined ? { context: p.context } : {}), scope: 'vectors' };
    const ct = await a.encrypt(p.plaintext, opts);
    values.push({
      name: p.name,
      plaintext_hex: p.plaintext.toString('hex'),
      context_hex: p.context === undefined ? null : Buffer.from(p.context).toString('hex'),
      ciphertext_hex: ct.toString('hex'),
      armor: await a.encryptText(p.plaintext, opts),
    });
  }
  await a.close();
  const [type, name] = provider.split('.');
  const unwrapper = await definition.create({
    id: provider, type, name, config, app: 'vectors', appRoot: process.cwd(), firstUse: false, logger: silentLogger,
  });
  const db = new Database(database, { readonly: true });
  const dataKeys = [];
  for (const row of db.prepare('SELECT * FROM atrest_data_keys ORDER BY created_at, id').all()) {
    const key = await unwrapper.unwrapKey(
      { ciphertext: row.wrapped, keyRef: row.key_ref },
      { atrest_data_key: row.id, atrest_label: row.label },
    );
    dataKeys.push({
      id: row.id,
      label: row.label,
      provider: row.provider,
      key_ref: row.key_ref,
      wrapped_hex: Buffer.from(row.wrapped).toString('hex'),
      data_key_hex: Buffer.from(key).toString('hex'),
      created_at: row.created_at,
    });
  }
  db.close();
  await unwrapper.close?.();
  return { provider, data_keys: dataKeys, values };
}

const keyPath = join(dir, 'vectors.key');
const file = await vectorSet('file.default', fileProvider, { key_path: keyPath }, {
  options: { 'security.encryption.file.default.key_path': keyPath },
});
file.key_file = readFileSync(keyPath, 'utf8');
const passphrase = 'vectors passphrase: correct horse battery staple';
const secretKey = await vectorSet('secret_key.default', secretKeyProvider, { secret_key: passphrase }, {
  options: { 'security.secret_key': passphrase },
});
secretKey.passphrase = passphrase;
const out = {
  format: 'atrest test vectors',
  version: 1,
  generated_at: new Date().toISOString(),
  sets: [file, secretKey],
};
writeFileSync(new URL('./v1.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log('wrote test/vectors/v1.json');
