// The CLI's streams, injectable so an application can mount the commands and tests can drive them.
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { errors } from '@atrest/core';

/** Where a CLI run reads and writes. */
export type CliIo = {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
};

/** Read a stream to its end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Write and wait until the stream took it (so process.exit does not cut output). */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** The contents of the file an option names (`--value-file`, `--new-key-file`); unreadable is a usage error. */
export function readOptionFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw errors.usage(`Cannot read --${option} ${path}: ${(cause as Error).message}.`, 'Check the path.', { cause });
  }
}
