// The key file: versioned 256-bit keys with one primary, as JSON. Created atomically (exclusive
// temporary file, 0600, fsync, link into place, directory fsync) and never overwritten by creation;
// a rotation writes a superset of the keys and renames it over the old file. An operator's own key
// (PMM's custom key: one 256-bit key as base64 or hex, what `openssl rand` writes) reads as a
// one-version ring; the first rotation converts the file, keeping the original beside it.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { errors } from '@atrest/core';
import type { AtrestError } from '@atrest/core';

const KEY_FILE_FORMAT = 1;

/** One key of the key file. */
export type FileKey = {
  readonly version: number;
  readonly key: Buffer;
  readonly fingerprint: string;
  readonly createdAt: string;
};

/** The parsed key file. */
export type KeyRing = {
  readonly primary: number;
  readonly keys: readonly FileKey[];
  /** Set when the file holds one bare key in this encoding (brought by the operator), not atrest's JSON. */
  readonly bare?: BareKeyEncoding;
};

/** How a bare key file (bring your own key) spells its 32 bytes. */
export type BareKeyEncoding = 'base64' | 'hex';

/** Public identifier of a key: the first 8 bytes of SHA-256("atrest-key-fingerprint:v1" ‖ key), hex. */
export function fingerprint(key: Uint8Array): string {
  return createHash('sha256').update('atrest-key-fingerprint:v1').update(key).digest().subarray(0, 8).toString('hex');
}

type KeyFileJson = {
  atrest_key_file: number;
  primary: number;
  keys: { version: number; created_at: string; key: string }[];
};

function invalid(path: string, why: string): AtrestError {
  return errors.keyFileInvalid(
    `The key file ${path} is not a valid atrest key file (${why}).`,
    'Restore it from your backup; never edit it by hand.',
    { details: { path } },
  );
}

const BARE_FORMS = 'one 256-bit key as base64 or hex (openssl rand -base64 32, or -hex 32)';

/**
 * A bare key: exactly 64 hex digits, or standard base64 of exactly 32 bytes, around which only
 * white space may stand (openssl ends the line). Anything else is refused, never guessed at.
 */
function readBareKey(path: string, text: string, createdAt: string): KeyRing {
  const word = text.trim();
  let key: Buffer;
  let bare: BareKeyEncoding;
  if (/^[0-9a-fA-F]{64}$/.test(word)) {
    key = Buffer.from(word, 'hex');
    bare = 'hex';
  } else if (/^[A-Za-z0-9+/]{43}=?$/.test(word)) {
    key = Buffer.from(word, 'base64');
    bare = 'base64';
  } else {
    const why = /^[0-9a-fA-F]+$/.test(word)
      ? `${word.length} hex digits; a key is 64`
      : /^[A-Za-z0-9+/]+={0,2}$/.test(word)
        ? `base64 of ${Buffer.from(word, 'base64').length} bytes; a key is 32`
        : 'neither atrest JSON nor a bare key';
    throw errors.keyFileInvalid(
      `The key file ${path} is not a valid key file (${why}).`,
      `A key file holds atrest's JSON key ring, or ${BARE_FORMS}. Restore it from your backup, or put your ` +
        'own key there before the first start.',
      { details: { path } },
    );
  }
  return { primary: 1, keys: [{ version: 1, key, fingerprint: fingerprint(key), createdAt }], bare };
}

/** Read and check the key file. Refuses a file readable or writable by group or others. */
export function readKeyFile(path: string): KeyRing {
  const st = statSync(path);
  if (!st.isFile()) throw invalid(path, 'not a regular file');
  if ((st.mode & 0o077) !== 0) {
    throw errors.keyFilePermissions(
      `The key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}).`,
      `Run: chmod 600 ${path}`,
      { details: { path, mode: (st.mode & 0o777).toString(8) } },
    );
  }
  const text = readFileSync(path, 'utf8');
  if (!text.trimStart().startsWith('{')) return readBareKey(path, text, st.mtime.toISOString());
  let json: KeyFileJson;
  try {
    json = JSON.parse(text) as KeyFileJson;
  } catch {
    throw invalid(path, 'not JSON');
  }
  if (json === null || typeof json !== 'object' || json.atrest_key_file !== KEY_FILE_FORMAT)
    throw invalid(path, `format is not ${KEY_FILE_FORMAT}`);
  if (!Array.isArray(json.keys) || json.keys.length === 0) throw invalid(path, 'no keys');
  const keys = json.keys.map((k, i) => {
    const key = Buffer.from(String(k?.key), 'base64');
    if (!Number.isInteger(k?.version) || k.version < 1 || key.length !== 32)
      throw invalid(path, `key #${i + 1} is malformed`);
    return { version: k.version, key, fingerprint: fingerprint(key), createdAt: String(k.created_at) };
  });
  if (new Set(keys.map((k) => k.version)).size !== keys.length) throw invalid(path, 'duplicate key versions');
  if (!keys.some((k) => k.version === json.primary))
    throw invalid(path, `primary version ${json.primary} is not in the file`);
  return { primary: json.primary, keys };
}

function serialize(ring: KeyRing): string {
  const json: KeyFileJson = {
    atrest_key_file: KEY_FILE_FORMAT,
    primary: ring.primary,
    keys: ring.keys.map((k) => ({ version: k.version, created_at: k.createdAt, key: k.key.toString('base64') })),
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write `ring` to an exclusive 0600 temporary file beside `path`, fsynced; returns its path. */
function writeTemp(path: string, ring: KeyRing): string {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, serialize(ring));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/** Create missing parent directories with mode 0700 (existing ones are left as they are). */
function makeParents(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * First boot: create the key file with one new key. Never overwrites: when another process created
 * it first, returns theirs (`created` false).
 */
export function createKeyFile(path: string): { ring: KeyRing; created: boolean } {
  makeParents(dirname(path));
  const key = randomBytes(32);
  const ring: KeyRing = {
    primary: 1,
    keys: [{ version: 1, key, fingerprint: fingerprint(key), createdAt: new Date().toISOString() }],
  };
  const tmp = writeTemp(path, ring);
  try {
    linkSync(tmp, path); // fails with EEXIST rather than replace an existing key file
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { ring: readKeyFile(path), created: false };
  } finally {
    unlinkSync(tmp);
  }
  fsyncDir(dirname(path));
  return { ring, created: true };
}

/** Where the first rotation keeps an operator's bare key file: `<path>.<fingerprint of its key>.bak`. */
export function bareKeyBackupPath(path: string, keyFingerprint: string): string {
  return `${path}.${keyFingerprint}.bak`;
}

/**
 * Keep the operator's bare key file (0600) before it is converted: made exclusively, so that a
 * backup left by an interrupted rotation is checked, never overwritten.
 */
function backUpBareKeyFile(path: string, ring: KeyRing): string {
  const backup = bareKeyBackupPath(path, ring.keys[0]?.fingerprint ?? 'key');
  const original = readFileSync(path);
  let fd: number;
  try {
    fd = openSync(backup, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && readFileSync(backup).equals(original)) return backup;
    throw errors.keyFileInvalid(
      `Cannot keep a backup of the key file ${path} as ${backup} before converting it ` +
        `(${(err as Error).message}); nothing was rotated.`,
      `Move ${backup} away (it is not a copy of ${path}) and run the rotation again.`,
      { cause: err, details: { path, backup } },
    );
  }
  try {
    writeSync(fd, original);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(path));
  return backup;
}

/**
 * Add a new key version and make it primary; the old versions stay. Atomic (rename over). A bare
 * key file is backed up first, then becomes atrest's versioned format with its key as version 1.
 */
export function addKeyVersion(path: string): KeyRing {
  const ring = readKeyFile(path);
  if (ring.bare !== undefined) backUpBareKeyFile(path, ring);
  const key = randomBytes(32);
  const version = Math.max(...ring.keys.map((k) => k.version)) + 1;
  const next: KeyRing = {
    primary: version,
    keys: [...ring.keys, { version, key, fingerprint: fingerprint(key), createdAt: new Date().toISOString() }],
  };
  replaceKeyFile(path, next);
  return next;
}

/** Replace the key file with `ring` atomically (used by rotation and pruning). */
export function replaceKeyFile(path: string, ring: KeyRing): void {
  // Through a symlink: the link's target is replaced, in its own directory; the link stays a link.
  const target = realpathSync(path);
  const tmp = writeTemp(target, ring);
  renameSync(tmp, target);
  fsyncDir(dirname(target));
}
