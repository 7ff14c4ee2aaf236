// The ciphertext formats (docs/FORMAT.md specifies every byte): the binary envelope, its text
// armor, and the canonical encoding of contexts. Pure functions, no I/O.
import { errors } from '../errors.js';
import type { AtrestError } from '../errors.js';
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
  if (bytes.length < 4 || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2]) {
    throw errors.formatInvalid(
      'The value is not an atrest ciphertext (bad magic).',
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
  if (bytes.length < MIN_CIPHERTEXT_LENGTH) {
    throw errors.formatInvalid(
      `The ciphertext is truncated (${bytes.length} bytes, at least ${MIN_CIPHERTEXT_LENGTH} expected).`,
      'Restore the value.',
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + DATA_KEY_ID_OFFSET, DATA_KEY_ID_LENGTH).toString('hex');
}

/** Text armor: prefix ‖ base64url (no padding) of the binary envelope. */
export function armor(bytes: Uint8Array): string {
  return ARMOR_PREFIX + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** What every armor starts with, whatever its version: a value starting so is never plaintext. */
const ARMOR_FAMILY = 'atrest:';

/** True when `text` is atrest text armor, valid or not (it starts with `atrest:`); `dearmor` says which. */
export function isArmored(text: string): boolean {
  return text.startsWith(ARMOR_FAMILY);
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Undo `armor`; throws ATREST_FORMAT_INVALID on an armor of another version, a body that is not
 * base64url, or one that is not canonical (unused trailing bits set: one ciphertext, one spelling).
 */
export function dearmor(text: string): Buffer {
  if (!text.startsWith(ARMOR_PREFIX)) {
    const version = /^atrest:v(\d{1,9}):/.exec(text)?.[1];
    throw errors.formatInvalid(
      version === undefined
        ? `The value starts with "${ARMOR_FAMILY}" but not with "${ARMOR_PREFIX}": it is damaged atrest ciphertext.`
        : `The value uses atrest text armor version ${version}, which this version of atrest does not know.`,
      version === undefined ? 'Restore the value.' : 'Upgrade atrest.',
      version === undefined ? undefined : { details: { version: Number(version) } },
    );
  }
  const body = text.slice(ARMOR_PREFIX.length);
  const bytes = BASE64URL.test(body) && body.length % 4 !== 1 ? Buffer.from(body, 'base64url') : undefined;
  if (bytes === undefined || bytes.toString('base64url') !== body) {
    throw errors.formatInvalid(
      `The value starts with "${ARMOR_PREFIX}" but its body is not canonical base64url: it was damaged or truncated.`,
      'Restore the value.',
    );
  }
  return bytes;
}

/** How far a damaged armor prefix may be from `atrest:v1:` (characters changed) and still be recognised. */
const PREFIX_DAMAGE = 3;
/** How far damaged magic and version bytes may be from `61 74 72 01` (bits flipped) and still be recognised. */
const MAGIC_DAMAGE = 2;
/** base64url of the magic "atr": where an armor's body starts, whatever happened to its prefix. */
const ARMORED_MAGIC = Buffer.from(MAGIC).toString('base64url');

function bitsApart(a: number, b: number): number {
  let x = a ^ b;
  let n = 0;
  for (; x !== 0; x &= x - 1) n++;
  return n;
}

/** True when the first bytes are the magic and version, or within MAGIC_DAMAGE bit flips of them. */
function nearMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length + 1) return false;
  const expected = [...MAGIC, FORMAT_VERSION];
  let flips = 0;
  for (const [i, b] of expected.entries()) flips += bitsApart(bytes[i] ?? 0, b);
  return flips <= MAGIC_DAMAGE;
}

/**
 * True when a value that is not valid ciphertext still starts like ciphertext, so that it must
 * never be taken for plaintext: text armor of any version, an armor prefix with a few characters
 * changed, or an armor body (base64url of the magic) behind a mangled prefix; bytes whose magic and
 * version are a few bit flips away. docs/FORMAT.md gives the rules.
 */
export function looksLikeCiphertext(value: string | Uint8Array): boolean {
  if (typeof value !== 'string') return nearMagic(value);
  if (isArmored(value)) return true;
  if (value.length >= ARMOR_PREFIX.length) {
    let changed = 0;
    for (let i = 0; i < ARMOR_PREFIX.length; i++) if (value[i] !== ARMOR_PREFIX[i]) changed++;
    if (changed <= PREFIX_DAMAGE) return true;
  }
  // A prefix with characters dropped or added: the body still starts at about the same place.
  for (let at = ARMOR_PREFIX.length - 2; at <= ARMOR_PREFIX.length + 2; at++) {
    if (value.startsWith(ARMORED_MAGIC, at)) return true;
  }
  return nearMagic(Buffer.from(value.slice(0, MAGIC.length + 1), 'utf8'));
}

/** The error for a value that looks like ciphertext but is not valid ciphertext. */
export function damagedCiphertext(): AtrestError {
  return errors.formatInvalid(
    'The value starts like atrest ciphertext (the armor prefix or the binary magic) but is not valid ciphertext: ' +
      'it was damaged, so it is not read as plaintext.',
    'Restore the value.',
  );
}

/**
 * The ciphertext a text value holds, or undefined when it is plaintext. Throws ATREST_FORMAT_INVALID
 * for anything that starts like ciphertext but is not valid: it is never taken for plaintext.
 */
export function textCiphertext(text: string): Buffer | undefined {
  if (isArmored(text)) return dearmor(text);
  if (looksLikeCiphertext(text)) throw damagedCiphertext();
  return undefined;
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
