// What the provider stores for a wrapped data key, and how the caller's context is bound to it.
// Key Vault's wrapKey takes no associated data, so the vault wraps (data key ‖ SHA-256 of the
// context's canonical encoding) and unwrap compares the digest. The stored bytes are
// [format 0x01][algorithm id][RSA ciphertext]; the algorithm travels with the key so a change of
// `algorithm` in the config never strands what was wrapped before. This is a stored format:
// change it only by adding a new format byte.
import { createHash } from 'node:crypto';
import type { EncryptionContext } from '@atrest/core';
import type { WrapAlgorithm } from './config.js';

export const WRAPPED_FORMAT_V1 = 0x01;
export const DATA_KEY_BYTES = 32;
export const CONTEXT_DIGEST_BYTES = 32;
/** What the vault wraps: the data key, then the context digest. */
export const WRAPPED_PLAINTEXT_BYTES = DATA_KEY_BYTES + CONTEXT_DIGEST_BYTES;

const algorithmIds: Readonly<Record<WrapAlgorithm, number>> = { 'RSA-OAEP-256': 0x01, 'RSA-OAEP': 0x02 };
const CONTEXT_LABEL = 'atrest/provider-azurekv/context/v1';

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes]);
}

/**
 * SHA-256 of the context's canonical encoding: a label, the entry count, then each entry sorted by
 * key (UTF-16 code unit order) as length-prefixed UTF-8 key and value. Any change of a key, a
 * value, or the set of keys changes the digest.
 */
export function contextDigest(context: EncryptionContext): Buffer {
  const hash = createHash('sha256');
  const keys = Object.keys(context).sort();
  hash.update(lengthPrefixed(CONTEXT_LABEL));
  hash.update(u32(keys.length));
  for (const key of keys) {
    hash.update(lengthPrefixed(key));
    hash.update(lengthPrefixed(context[key] ?? ''));
  }
  return hash.digest();
}

/** Frame an RSA ciphertext for storage. */
export function encodeWrapped(algorithm: WrapAlgorithm, rsaCiphertext: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from([WRAPPED_FORMAT_V1, algorithmIds[algorithm]]), rsaCiphertext]));
}

/** Read the stored frame; undefined when it is not one this version wrote. */
export function decodeWrapped(bytes: Uint8Array): { algorithm: WrapAlgorithm; rsaCiphertext: Uint8Array } | undefined {
  if (bytes.length < 2 + 128 || bytes[0] !== WRAPPED_FORMAT_V1) return undefined;
  const id = bytes[1];
  const algorithm = (Object.keys(algorithmIds) as WrapAlgorithm[]).find((a) => algorithmIds[a] === id);
  // RSA ciphertexts are as long as the modulus: 2048, 3072 or 4096 bits.
  const length = bytes.length - 2;
  if (algorithm === undefined || ![256, 384, 512].includes(length)) return undefined;
  return { algorithm, rsaCiphertext: bytes.subarray(2) };
}

/** A Key Vault key identifier, `https://<vault>/keys/<name>/<version>`. */
export type KeyIdentifier = { readonly origin: string; readonly name: string; readonly version: string };

/** Parse a versioned key identifier; undefined when it is not one. */
export function parseKeyIdentifier(kid: string): KeyIdentifier | undefined {
  let url: URL;
  try {
    url = new URL(kid);
  } catch {
    return undefined;
  }
  const match = /^\/keys\/([0-9a-zA-Z-]{1,127})\/([0-9a-zA-Z]{1,64})\/?$/.exec(url.pathname);
  if (
    url.protocol !== 'https:' ||
    !match ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  )
    return undefined;
  return { origin: url.origin, name: match[1] ?? '', version: match[2] ?? '' };
}
