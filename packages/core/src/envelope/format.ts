// The ciphertext formats (docs/FORMAT.md specifies every byte): the binary envelope, its text
// armor, and the canonical encoding of contexts. Pure functions, no I/O.
import { errors } from '../errors.js';
import type { EncryptionContext } from '../providers/contract.js';

/** "atr" then format version 1. */
export const MAGIC = Uint8Array.of(0x61, 0x74, 0x72);
export const FORMAT_VERSION = 1;
export const DATA_KEY_ID_LENGTH = 16;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
/** magic(3) ‖ version(1) ‖ data key id(16) ‖ nonce(12). */
export const HEADER_LENGTH = MAGIC.length + 1 + DATA_KEY_ID_LENGTH + NONCE_LENGTH;
export const MIN_CIPHERTEXT_LENGTH = HEADER_LENGTH + TAG_LENGTH;
/** Offset of the data key id in a binary envelope (the stores' SQL reads it from there too). */
export const DATA_KEY_ID_OFFSET = 4;

/** The text armor prefix: what tells ciphertext from legacy plaintext in a TEXT column. */
export const ARMOR_PREFIX = 'atrest:v1:';

/** True when `bytes` starts like an atrest binary envelope (magic and a known version). */
export function looksLikeEnvelope(bytes: Uint8Array): boolean {
  return (
    bytes.length >= MIN_CIPHERTEXT_LENGTH &&
    bytes[0] === MAGIC[0] &&
    bytes[1] === MAGIC[1] &&
    bytes[2] === MAGIC[2] &&
    bytes[3] === FORMAT_VERSION
  );
}

/** Parse the header; throws ATREST_FORMAT_INVALID for anything that is not a v1 envelope. */
export function readDataKeyId(bytes: Uint8Array): string {
  if (bytes.length < MIN_CIPHERTEXT_LENGTH || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2]) {
    throw errors.formatInvalid(
      'The value is not an atrest ciphertext (bad magic or too short).',
      'If it is plaintext, decrypt it with allowPlaintext, or re-encrypt it.',
    );
  }
  if (bytes[3] !== FORMAT_VERSION) {
    throw errors.formatInvalid(
      `The value uses atrest ciphertext format version ${bytes[3]}, which this version of atrest does not know.`,
      'Upgrade atrest.',
      { details: { version: bytes[3] ?? -1 } },
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + DATA_KEY_ID_OFFSET, DATA_KEY_ID_LENGTH).toString('hex');
}

/** Text armor: prefix ‖ base64url (no padding) of the binary envelope. */
export function armor(bytes: Uint8Array): string {
  return ARMOR_PREFIX + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** True when `text` carries the armor prefix (it is atrest ciphertext, valid or not). */
export function isArmored(text: string): boolean {
  return text.startsWith(ARMOR_PREFIX);
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Undo `armor`; throws ATREST_FORMAT_INVALID on a malformed armor. */
export function dearmor(text: string): Buffer {
  const body = text.slice(ARMOR_PREFIX.length);
  if (!text.startsWith(ARMOR_PREFIX) || !BASE64URL.test(body) || body.length % 4 === 1) {
    throw errors.formatInvalid(
      `The value starts with "${ARMOR_PREFIX}" but its body is not valid base64url: it was damaged or truncated.`,
      'Restore the value.',
    );
  }
  return Buffer.from(body, 'base64url');
}

/**
 * Canonical bytes of an encryption context (sorted keys; each key and value as uint32 big-endian
 * length ‖ UTF-8). Providers that bind context themselves (as additional data or a digest) use it.
 */
export function encodeContext(context: EncryptionContext): Buffer {
  const parts: Buffer[] = [];
  for (const key of Object.keys(context).sort()) {
    for (const s of [key, context[key] ?? '']) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}
