// `file`: data keys wrapped with AES-256-GCM under a key from the local key file (PMM style,
// generated on first boot). The wrapped record names the key by fingerprint, so a key file that
// is missing the key is told apart from a damaged value.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readlinkSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { configProblem, defineProvider, encodeContext, errors } from '@atrest/core';
import type { EncryptionContext, KeyProvider, KeyRotation, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import { addKeyVersion, bareKeyBackupPath, createKeyFile, readKeyFile, replaceKeyFile } from './keyfile.js';
import type { FileKey, KeyRing } from './keyfile.js';

const RECORD_VERSION = 1;
const FP = 8;
const NONCE = 12;
const TAG = 16;
/** version(1) ‖ fingerprint(8) ‖ nonce(12) ‖ wrapped key(32) ‖ tag(16) */
const RECORD_LENGTH = 1 + FP + NONCE + 32 + TAG;
const AAD_PREFIX = Buffer.from('atrest-file-wrap:v1');

export type FileProviderConfig = { key_path: string };

function aad(fp: Buffer, context: EncryptionContext): Buffer {
  return Buffer.concat([AAD_PREFIX, fp, encodeContext(context)]);
}

/** A `file` provider over the key ring read from `path`. */
export class FileKeyProvider implements KeyProvider {
  constructor(
    readonly path: string,
    private readonly ring: KeyRing,
    /** This process made the key file just now (first boot). */
    private readonly created = false,
  ) {}

  private get primary(): FileKey {
    const k = this.ring.keys.find((x) => x.version === this.ring.primary);
    if (k === undefined) {
      throw errors.keyFileInvalid(`The key file ${this.path} has no primary key.`, 'Restore it from your backup.', {
        details: { path: this.path },
      });
    }
    return k;
  }

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
    const k = this.primary;
    const fp = Buffer.from(k.fingerprint, 'hex');
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', k.key, nonce);
    cipher.setAAD(aad(fp, context));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return {
      ciphertext: Buffer.concat([Buffer.of(RECORD_VERSION), fp, nonce, body, cipher.getAuthTag()]),
      keyRef: k.fingerprint,
    };
  }

  async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
    const rec = Buffer.from(wrapped.ciphertext);
    if (rec.length !== RECORD_LENGTH || rec[0] !== RECORD_VERSION) {
      throw errors.decryptFailed(
        `A data key record for the key file ${this.path} is malformed (${rec.length} bytes, version ${rec[0]}).`,
        'Restore the database row of that data key from your backup.',
        { details: { path: this.path } },
      );
    }
    const fp = rec.subarray(1, 1 + FP);
    const k = this.ring.keys.find((x) => x.fingerprint === fp.toString('hex'));
    if (k === undefined) {
      throw errors.keyMismatch(
        `The data was encrypted with key ${fp.toString('hex')}, which is not in the key file ${this.path} ` +
          `(it holds ${this.ring.keys.map((x) => x.fingerprint).join(', ')}). This is a different key file.`,
        'Restore the right one from your backup.',
        {
          details: {
            path: this.path,
            fingerprint: fp.toString('hex'),
            present: this.ring.keys.map((x) => x.fingerprint),
          },
        },
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', k.key, rec.subarray(1 + FP, 1 + FP + NONCE));
    decipher.setAAD(aad(fp, context));
    decipher.setAuthTag(rec.subarray(RECORD_LENGTH - TAG));
    const key = decipher.update(rec.subarray(1 + FP + NONCE, RECORD_LENGTH - TAG));
    try {
      decipher.final();
    } catch (cause) {
      key.fill(0);
      throw errors.decryptFailed(
        `A data key record does not authenticate under key ${k.fingerprint} of ${this.path}: ` +
          'it was changed, or belongs to another data key.',
        'Restore the database row of that data key from your backup.',
        { cause, details: { path: this.path } },
      );
    }
    return key;
  }

  describe(): Record<string, string | number> {
    let mode = 'missing';
    try {
      mode = (statSync(this.path).mode & 0o777).toString(8).padStart(4, '0');
    } catch {
      // reported as missing
    }
    // The operator's own key file as it was before the first rotation: a copy of key version 1.
    const first = this.ring.keys.find((k) => k.version === 1);
    const backup = first === undefined ? undefined : bareKeyBackupPath(this.path, first.fingerprint);
    const kept = this.ring.bare === undefined && backup !== undefined && existsSync(backup);
    return {
      key_path: this.path,
      fingerprint: this.primary.fingerprint,
      mode,
      primary_version: this.ring.primary,
      versions: this.ring.keys.length,
      // An operator's own bare key (base64 or hex) until the first rotation converts the file.
      format: this.ring.bare ?? 'atrest',
      ...(kept ? { original_key_file: backup } : {}),
    };
  }

  get currentKeyRef(): string {
    return this.primary.fingerprint;
  }

  holdsKey(keyRef: string): boolean {
    return this.ring.keys.some((k) => k.fingerprint === keyRef);
  }

  /** Remove the key file made at this start, if it still holds only that key (nothing was added to it). */
  async discardNewKey(): Promise<boolean> {
    if (!this.created) return false;
    const now = readKeyFile(this.path);
    if (now.keys.length !== 1 || now.keys[0]?.fingerprint !== this.currentKeyRef) return false;
    unlinkSync(this.path);
    return true;
  }

  /** A new key version becomes primary; old versions stay for unwrapping until pruned. */
  readonly rotation: Extract<KeyRotation, { kind: 'generated-key' }> = {
    kind: 'generated-key',
    rotate: async () =>
      new FileKeyProvider(
        this.path,
        writing(this.path, () => addKeyVersion(this.path)),
      ),
    // The non-primary versions whose fingerprint is not in `keep` go; the file is replaced atomically.
    prune: async (keep) => {
      const ring = readKeyFile(this.path);
      const removed = ring.keys.filter((k) => k.version !== ring.primary && !keep.includes(k.fingerprint));
      if (removed.length > 0) {
        const kept = { primary: ring.primary, keys: ring.keys.filter((k) => !removed.includes(k)) };
        writing(this.path, () => replaceKeyFile(this.path, kept));
      }
      return removed.map((k) => k.fingerprint);
    },
    // A copy of the primary key alone, which core unwraps every data key with before pruning.
    currentKeyOnly: () => {
      const k = this.primary;
      return new FileKeyProvider(this.path, { primary: k.version, keys: [{ ...k, key: Buffer.from(k.key) }] });
    },
  };

  async close(): Promise<void> {
    for (const k of this.ring.keys) k.key.fill(0);
  }
}

/** `write` of the key file at `path`, its system failures (disk full, read-only…) said as ATREST_KEY_FILE_WRITE. */
function writing<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      ENOSPC: 'the disk is full',
      EDQUOT: "the user's disk quota is used up",
      EFBIG: 'the file size limit (ulimit -f) was reached',
      EROFS: 'the file system is read-only',
      EACCES: 'this user may not write in its directory',
      EPERM: 'this user may not write in its directory',
    };
    const reason = code === undefined ? undefined : why[code];
    if (reason === undefined) throw err;
    throw errors.keyFileWrite(
      `The key file ${path} could not be written: ${reason} (${code}). The key file was left as it was ` +
        '(no partial file remains).',
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? `Run atrest as the owner of ${dirname(path)}, or point the key path at a writable place.`
        : 'Free space (or raise the limit) and run it again.',
      { cause: err, details: { path, errno: code } },
    );
  }
}

/** The target of `path` when it is a symbolic link that leads nowhere. */
function danglingTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a key file in a directory anyone may write without the sticky bit: any user could replace
 * or remove the key file there (or plant one before first boot). A missing directory is made 0700.
 */
function checkKeyDirectory(path: string): void {
  let mode: number;
  try {
    mode = statSync(dirname(path)).mode;
  } catch {
    return;
  }
  if ((mode & 0o002) !== 0 && (mode & 0o1000) === 0) {
    const octal = (mode & 0o7777).toString(8).padStart(4, '0');
    throw errors.keyFilePermissions(
      `The key file's directory ${dirname(path)} is writable by every user (mode ${octal}): any of them ` +
        'could replace or remove the key file.',
      `Run: chmod o-w ${dirname(path)} (or keep the key file in a directory of its own, mode 0700).`,
      { details: { path, directory: dirname(path), mode: octal } },
    );
  }
}

/** Open (or, on first use, create) the key file at `path`. */
export function openKeyFile(path: string, firstUse: boolean): FileKeyProvider {
  checkKeyDirectory(path);
  try {
    return new FileKeyProvider(path, readKeyFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') {
        throw errors.keyFilePermissions(
          `The key file ${path} cannot be read by this user (permission denied).`,
          "Run atrest as the key file's owner.",
          { details: { path } },
        );
      }
      throw err;
    }
  }
  const target = danglingTarget(path);
  if (target !== undefined) {
    // Never a new key behind a link an operator placed: the file it names was meant to be there.
    throw errors.keyMissing(
      `The key file ${path} is missing: it is a symbolic link to ${target}, which does not exist.`,
      firstUse ? `Restore ${target}, or remove the link to let atrest create a new key file at ${path}.` : '',
      { details: { path, linkTarget: target } },
    );
  }
  if (!firstUse) {
    // Core says why no key may be made now (data keys exist, or the command only reads).
    throw errors.keyMissing(`The key file ${path} is missing.`, '', { details: { path } });
  }
  const { ring, created } = writing(path, () => createKeyFile(path));
  return new FileKeyProvider(path, ring, created);
}

export const fileProvider = defineProvider<FileProviderConfig>({
  apiVersion: 1,
  type: 'file',
  description: 'AES-256-GCM key wrapping under a local key file, generated on first boot',
  configSchema: {
    key_path: {
      doc: 'Path of the key file (created 0600 on first boot, never overwritten)',
      format: String,
      default: '',
      required: 'always',
    },
  },
  async create(options: ProviderCreateOptions<FileProviderConfig>): Promise<KeyProvider> {
    const path = options.config.key_path;
    if (typeof path !== 'string' || path === '') {
      throw configProblem(options.id, 'key_path', 'is not set', 'Give the path of the key file.');
    }
    return openKeyFile(path, options.firstUse);
  },
});
