// The CLI's streams, injectable so an application can mount the commands and tests can drive them.
import type { Readable, Writable } from 'node:stream';
import { FileRefused, MAX_VALUE_BYTES, errors, readBoundedFile } from '@atrest/core';

/** Where a CLI run reads and writes. */
export type CliIo = {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
};

/** What the largest input says when refused. */
const tooLarge = (what: string) =>
  errors.usage(
    `${what} is larger than ${MAX_VALUE_BYTES} bytes (64 MiB), the largest value atrest stores; ` +
      'nothing was read further.',
    'Store a large file elsewhere and keep its key or path as the secret.',
    { details: { limit: MAX_VALUE_BYTES } },
  );

/** Read a stream to its end: at most MAX_VALUE_BYTES, else ATREST_USAGE (the rest is not read). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += bytes.length;
    if (total > MAX_VALUE_BYTES) {
      stream.destroy();
      throw tooLarge('The input on stdin');
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, total);
}

/** Write and wait until the stream took it (so process.exit does not cut output). */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * The contents of the file an option names (`--value-file`, `--new-key-file`): a regular file of at
 * most MAX_VALUE_BYTES (a FIFO or a device is refused, never read); unreadable is a usage error.
 */
export function readOptionFile(option: string, path: string): Buffer {
  try {
    return readBoundedFile(path, MAX_VALUE_BYTES);
  } catch (cause) {
    if (cause instanceof FileRefused && cause.reason === 'too-large') throw tooLarge(`--${option} ${path}`);
    const fix = cause instanceof FileRefused ? 'Give a regular file.' : 'Check the path.';
    throw errors.usage(`Cannot read --${option} ${path}: ${(cause as Error).message}.`, fix, { cause });
  }
}
