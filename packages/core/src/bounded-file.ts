// Reading a file that holds a value (`$__file{}`, `<NAME>__FILE`, the CLI's --value-file): regular
// files only, opened without blocking (a FIFO never hangs the reader) and read up to a limit (a
// device such as /dev/zero is never read without end).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file was not read: `not-regular` (a FIFO, device, directory…) or `too-large` (over the limit). */
export class FileRefused extends Error {
  constructor(
    readonly reason: 'not-regular' | 'too-large',
    readonly kind: string,
  ) {
    super(reason === 'not-regular' ? `is a ${kind}, not a regular file` : `is larger than the limit`);
  }
}

function kindOf(stats: import('node:fs').Stats): string {
  if (stats.isDirectory()) return 'directory';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return 'special file';
}

/**
 * The contents of the regular file `path`, at most `limit` bytes; a FileRefused when it is not a
 * regular file or is larger; the system's error (ENOENT, EACCES…) when it cannot be opened.
 */
export function readBoundedFile(path: string, limit: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileRefused('not-regular', kindOf(stats));
    if (stats.size > limit) throw new FileRefused('too-large', 'file');
    // Read to the end, never past the limit (the file may grow while it is read).
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, limit + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > limit) throw new FileRefused('too-large', 'file');
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
