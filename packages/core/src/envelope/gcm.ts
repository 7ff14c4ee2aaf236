// AES-256-GCM over the binary envelope as pure functions of keys and bytes: the envelope runs them,
// and so do the re-encrypt workers (other threads: no store, no cache, keys handed to them).
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { errors } from '../errors.js';
import { HEADER_LENGTH, MIN_CIPHERTEXT_LENGTH, NONCE_LENGTH, TAG_LENGTH } from './format.js';

/** Bytes of the header before the nonce: magic, version, data key id. */
export const SEAL_PREFIX_LENGTH = HEADER_LENGTH - NONCE_LENGTH;

/** Nonces come from a refilled random pool: one syscall per 4096 nonces instead of one each. */
export class NoncePool {
  private readonly pool = Buffer.alloc(NONCE_LENGTH * 4096);
  private offset = this.pool.length;
  next(into: Buffer, at: number): void {
    if (this.offset === this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    this.pool.copy(into, at, this.offset, this.offset + NONCE_LENGTH);
    this.offset += NONCE_LENGTH;
  }
}

/**
 * Encrypt `data` under `key` into a new envelope: `prefix` (its first SEAL_PREFIX_LENGTH bytes)
 * names the data key; the whole header and then `context` are the authenticated data.
 */
export function sealEnvelope(
  key: Uint8Array,
  prefix: Uint8Array,
  nonces: NoncePool,
  data: Uint8Array,
  context: Uint8Array | undefined,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + data.length + TAG_LENGTH);
  out.set(prefix.subarray(0, SEAL_PREFIX_LENGTH), 0);
  nonces.next(out, SEAL_PREFIX_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, out.subarray(SEAL_PREFIX_LENGTH, HEADER_LENGTH));
  // GCM takes the AAD in pieces: header then context, as if concatenated (no copy).
  cipher.setAAD(out.subarray(0, HEADER_LENGTH));
  if (context !== undefined) cipher.setAAD(context);
  const n = cipher.update(data).copy(out, HEADER_LENGTH);
  cipher.final();
  cipher.getAuthTag().copy(out, HEADER_LENGTH + n);
  return out;
}

/** Decrypt an envelope; a wrong context or any changed byte is ATREST_DECRYPT_FAILED. */
export function openEnvelope(key: Uint8Array, bytes: Uint8Array, context: Uint8Array | undefined): Buffer {
  if (bytes.length < MIN_CIPHERTEXT_LENGTH) {
    throw errors.formatInvalid(
      `The ciphertext is truncated (${bytes.length} bytes, at least ${MIN_CIPHERTEXT_LENGTH} expected).`,
      'Restore the value.',
    );
  }
  const header = bytes.subarray(0, HEADER_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(SEAL_PREFIX_LENGTH));
  decipher.setAAD(header);
  if (context !== undefined) decipher.setAAD(context);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH));
  const body = decipher.update(bytes.subarray(HEADER_LENGTH, bytes.length - TAG_LENGTH));
  try {
    decipher.final();
  } catch (cause) {
    body.fill(0);
    throw errors.decryptFailed(
      'Decryption failed: the value was changed, or it is decrypted with another context than it was ' +
        'encrypted with (a value copied to another row or column).',
      'Restore the value, or decrypt it with the context it was encrypted with.',
      { cause },
    );
  }
  return body;
}
