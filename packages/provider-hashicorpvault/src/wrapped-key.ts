// What the provider sends to Transit and stores. Transit encrypts (data key ‖ SHA-256 of the
// context) with no associated data: Vault's and OpenBao's `rewrap` take no associated data, so a
// ciphertext bound to some could never be rewrapped; unwrap checks the digest instead. The stored
// bytes are [format 0x01][Transit's ciphertext, `vault:v<N>:…`, ASCII]. This is a stored format:
// change it only by adding a new format byte.
import { createHash, timingSafeEqual } from 'node:crypto';
import { encodeContext } from '@atrest/core';
import type { EncryptionContext } from '@atrest/core';

const FORMAT_V1 = 0x01;
const DATA_KEY_BYTES = 32;
const DIGEST_BYTES = 32;
const CONTEXT_LABEL = Buffer.from('atrest/provider-hashicorpvault/context/v1\u0000');
const CIPHERTEXT = /^vault:v(\d+):([A-Za-z0-9+/]+=*)$/;

function contextDigest(context: EncryptionContext): Buffer {
  return createHash('sha256').update(CONTEXT_LABEL).update(encodeContext(context)).digest();
}

/** Transit's plaintext for a data key: the key, then its context's digest (base64). */
export function transitPlaintext(dataKey: Uint8Array, context: EncryptionContext): string {
  const joined = Buffer.concat([dataKey, contextDigest(context)]);
  try {
    return joined.toString('base64');
  } finally {
    joined.fill(0);
  }
}

/**
 * The data key in Transit's plaintext (base64), once its digest matches `context`; undefined when
 * it does not, or the plaintext is not one this provider made.
 */
export function dataKeyOf(plaintextBase64: string, context: EncryptionContext): Uint8Array | undefined {
  const plain = Buffer.from(plaintextBase64, 'base64');
  try {
    if (plain.length !== DATA_KEY_BYTES + DIGEST_BYTES) return undefined;
    if (!timingSafeEqual(plain.subarray(DATA_KEY_BYTES), contextDigest(context))) return undefined;
    return new Uint8Array(plain.subarray(0, DATA_KEY_BYTES));
  } finally {
    plain.fill(0);
  }
}

/** The stored bytes of Transit's ciphertext. */
export function encodeWrapped(ciphertext: string): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from([FORMAT_V1]), Buffer.from(ciphertext, 'ascii')]));
}

/** Transit's ciphertext and its key version, from stored bytes; undefined when they are not ours. */
export function decodeWrapped(bytes: Uint8Array): { ciphertext: string; version: number } | undefined {
  if (bytes[0] !== FORMAT_V1) return undefined;
  const ciphertext = Buffer.from(bytes.subarray(1)).toString('ascii');
  const match = CIPHERTEXT.exec(ciphertext);
  return match ? { ciphertext, version: Number(match[1]) } : undefined;
}

/** The key version of a Transit ciphertext (`vault:v<N>:`); undefined when it is not one. */
export function versionOf(ciphertext: unknown): number | undefined {
  const match = typeof ciphertext === 'string' ? CIPHERTEXT.exec(ciphertext) : null;
  return match ? Number(match[1]) : undefined;
}
