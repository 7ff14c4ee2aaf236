// Writing a secret to a file for a driver or a script: a new file of mode 0600, written in full
// under a temporary name and then put in place, in a directory no other user can write to.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { errors } from '@atrest/core';

function problem(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Write `data` to `path` (0600). Refused when `path` exists unless `replace`, and when its directory
 * is writable by group or others (another user could swap or read the file as it is made).
 */
export function writePrivateFile(path: string, data: Uint8Array, replace: boolean): void {
  const dir = dirname(resolve(path));
  let mode: number;
  try {
    mode = statSync(dir).mode;
  } catch (cause) {
    throw errors.usage(`Cannot write --out ${path}: ${problem(cause)}.`, 'Give a path in an existing directory.', {
      cause,
    });
  }
  if ((mode & 0o022) !== 0) {
    throw errors.usage(
      `--out ${path}: its directory ${dir} is writable by other users (mode ${(mode & 0o7777).toString(8)}).`,
      `Write the secret in a private directory (for example one made with mkdir -m 700), or chmod go-w ${dir}.`,
    );
  }
  const temporary = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temporary, 'wx', 0o600);
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    // A hard link fails when the name exists: the file appears complete, and never over another.
    if (replace) renameSync(temporary, path);
    else linkSync(temporary, path);
  } catch (cause) {
    const exists = (cause as { code?: unknown }).code === 'EEXIST';
    throw errors.usage(
      exists ? `--out ${path} exists.` : `Cannot write --out ${path}: ${problem(cause)}.`,
      exists ? 'Add --force to replace it, or choose another path.' : 'Check the path and its permissions.',
      { cause, details: { path } },
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // already renamed into place, or never created
    }
  }
}
