// Writes test/vectors/v1-negative.json: values every decryptor must refuse, derived from the first
// value of the first set of v1.json (same keys), each with the atrest error code it must give.
// Run: node test/vectors/negative.mjs (deterministic: no randomness).
import { readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('.', import.meta.url);
const v1 = JSON.parse(readFileSync(new URL('v1.json', dir), 'utf8'));
const set = v1.sets[0];
const value = set.values.find((v) => v.context_hex !== null) ?? set.values[0];
const good = Buffer.from(value.ciphertext_hex, 'hex');
const body = value.armor.slice('atrest:v1:'.length);
const patch = (offset, byte) => {
  const b = Buffer.from(good);
  b[offset] = byte;
  return b;
};
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// The last character of a body whose length is not a multiple of 4 carries unused bits: set one.
const last = alphabet.indexOf(body.at(-1));
const unusedBits = body.length % 4 === 2 ? 15 : 3;
const nonCanonical = body.slice(0, -1) + alphabet[(last & ~unusedBits) | 1];
const binary = (name, bytes, error, details) => ({ name, binary_hex: bytes.toString('hex'), error, details });
const armor = (name, text, error, details) => ({ name, armor: text, error, details });
const cases = [
  binary('bad magic', patch(0, 0x62), 'ATREST_FORMAT_INVALID'),
  binary('future version byte 02', patch(3, 0x02), 'ATREST_FORMAT_INVALID', { version: 2 }),
  binary('truncated to 47 bytes', good.subarray(0, 47), 'ATREST_FORMAT_INVALID'),
  binary('changed nonce byte', patch(25, good[25] ^ 1), 'ATREST_DECRYPT_FAILED'),
  binary('changed ciphertext or tag byte', patch(good.length - 1, good[good.length - 1] ^ 0x80), 'ATREST_DECRYPT_FAILED'),
  binary('unknown data key id', patch(4, good[4] ^ 0xff), 'ATREST_DATA_KEY_NOT_FOUND'),
  armor('armor version 2', `atrest:v2:${body}`, 'ATREST_FORMAT_INVALID', { version: 2 }),
  armor('damaged prefix', `atrest:v1;${body}`, 'ATREST_FORMAT_INVALID'),
  armor('padding', `atrest:v1:${body}${'='.repeat((4 - (body.length % 4)) % 4 || 1)}`, 'ATREST_FORMAT_INVALID'),
  armor('not canonical (unused bits set)', `atrest:v1:${nonCanonical}`, 'ATREST_FORMAT_INVALID'),
  armor('standard base64 characters', `atrest:v1:${body.replaceAll('-', '+').replaceAll('_', '/')}+`, 'ATREST_FORMAT_INVALID'),
  armor('body length 1 mod 4', `atrest:v1:${body}${'A'.repeat((5 - (body.length % 4)) % 4 || 4)}`, 'ATREST_FORMAT_INVALID'),
];
const out = {
  format: 'atrest test vectors: values that must be refused',
  version: 1,
  provider: set.provider,
  context_hex: value.context_hex,
  cases,
};
writeFileSync(new URL('v1-negative.json', dir), `${JSON.stringify(out, null, 2)}\n`);
