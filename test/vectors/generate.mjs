#!/usr/bin/env node
// Writes test/vectors/v1.json: a key file, a passphrase, the data keys they wrapped (wrapped and in
// the clear), and ciphertexts (binary and text armor) with their plaintexts and contexts. Run once
// per format version; the committed file is what every later atrest must keep reading.
// Usage (after `pnpm build`): node test/vectors/generate.mjs
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAtrest } from '@atrest/core';

const dir = mkdtempSync(join(tmpdir(), 'atrest-vectors-'));
const plaintexts = [
  { name: 'empty', plaintext: Buffer.alloc(0), context: undefined },
  { name: 'ascii', plaintext: Buffer.from('correct horse battery staple'), context: 'datasources.password' },
  { name: 'utf8', plaintext: Buffer.from('päss wörd ✓ 秘密'), context: 'atrest_secrets:smtp' },
  { name: 'binary', plaintext: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), context: undefined },
  { name: 'binary-context', plaintext: Buffer.from([0, 0, 0, 255, 254]), context: Buffer.from([1, 2, 3, 0, 4]) },
  { name: 'pem', plaintext: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n'), context: 'tls.cert' },
];

async function vectorSet(provider, options) {
  const a = await openAtrest({ app: 'vectors', env: {}, database: join(dir, `${provider}.db`), ...options });
  const values = [];
  for (const p of plaintexts) {
    const ct = await a.encrypt(p.plaintext, { ...(p.context !== undefined ? { context: p.context } : {}), scope: 'vectors' });
    values.push({
      name: p.name,
      plaintext_hex: p.plaintext.toString('hex'),
      context_hex: p.context === undefined ? null : Buffer.from(p.context).toString('hex'),
      ciphertext_hex: ct.toString('hex'),
      armor: (await a.encryptText(p.plaintext, { ...(p.context !== undefined ? { context: p.context } : {}), scope: 'vectors' })),
    });
  }
  const dataKeys = [];
  for (const row of a.internals.store.dataKeys()) {
    dataKeys.push({
      id: row.id,
      label: row.label,
      provider: row.provider,
      key_ref: row.key_ref,
      wrapped_hex: Buffer.from(row.wrapped).toString('hex'),
      data_key_hex: (await a.internals.envelope.dataKey(row.id)).toString('hex'),
      created_at: row.created_at,
    });
  }
  await a.close();
  return { provider, data_keys: dataKeys, values };
}

const keyPath = join(dir, 'vectors.key');
const file = await vectorSet('file.default', { options: { 'security.encryption.file.default.key_path': keyPath } });
file.key_file = readFileSync(keyPath, 'utf8');
const passphrase = 'vectors passphrase: correct horse battery staple';
const secretKey = await vectorSet('secret_key.default', { options: { 'security.secret_key': passphrase } });
secretKey.passphrase = passphrase;
const out = { format: 'atrest test vectors', version: 1, generated_at: new Date().toISOString(), sets: [file, secretKey] };
writeFileSync(new URL('./v1.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log('wrote test/vectors/v1.json');
