// Secrets as files, for drivers that take a path (`sslrootcert=`, a PKCS#12 keystore): each value
// is written to a new 0600 file in a 0700 directory of this instance, under $XDG_RUNTIME_DIR (a
// tmpfs only this user reaches, emptied at logout) or else the temporary directory. The directory
// is removed on close() and at process exit; only a SIGKILL leaves it, still private.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '../errors.js';

/** $XDG_RUNTIME_DIR when it is what systemd makes (a directory of this user's, mode 0700). */
function runtimeDir(): string | undefined {
  const dir = process.env['XDG_RUNTIME_DIR'];
  if (dir === undefined || dir === '') return undefined;
  try {
    const st = statSync(dir);
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
    return st.isDirectory() && mine && (st.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** A file name a reader can recognise: the secret's name with anything but [A-Za-z0-9._-] as `_`. */
function fileName(index: number, name: string): string {
  return `${index}-${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100)}`;
}

/** The private files of one instance. */
export type SecretFiles = {
  /** Write `value` to a new private file named after `name`; its path. */
  write(name: string, value: Uint8Array): string;
  /** Remove every file written (idempotent). */
  removeAll(): void;
};

export function createSecretFiles(): SecretFiles {
  let dir: string | undefined;
  let count = 0;
  const removeAll = (): void => {
    if (dir === undefined) return;
    rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    process.off('exit', removeAll);
  };
  return {
    write(name, value) {
      const base = runtimeDir() ?? tmpdir();
      let path = base;
      try {
        if (dir === undefined) {
          dir = mkdtempSync(join(base, 'atrest-secrets-'));
          process.on('exit', removeAll);
        }
        count += 1;
        path = join(dir, fileName(count, name));
        writeFileSync(path, value, { mode: 0o600, flag: 'wx' });
        return path;
      } catch (cause) {
        throw errors.usage(
          `Cannot write the secret ${JSON.stringify(name)} to a private file in ${path}: ${(cause as Error).message}.`,
          'Set XDG_RUNTIME_DIR or TMPDIR to a directory this user can write to.',
          { cause, details: { name, path } },
        );
      }
    },
    removeAll,
  };
}
