// The helpers every test of atrest shares (and a third-party provider's tests may use): temporary
// directories, the atrest error a promise rejects with, Node child processes with a clean environment,
// in-memory streams for code that takes stdin, stdout and stderr (the CLI's runCli), a logger
// that keeps what it is told, and the options core's loader gives a provider definition's create().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import { isAtrestError, silentLogger } from '@atrest/core';
import type { AtrestError, LogFields, Logger, ProviderCreateOptions } from '@atrest/core';

const madeDirs: string[] = [];

function removeMadeDirs(): void {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh private directory under the system's temporary directory, removed when the test process
 * exits (databases of thousands of secrets add up over a suite).
 */
export function tempDir(prefix = 'atrest-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (madeDirs.length === 0) process.once('exit', removeMadeDirs);
  madeDirs.push(dir);
  return dir;
}

/** Write `text` to `dir/name` and return the path. */
export function writeIn(dir: string, name: string, text: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/**
 * The atrest error `promise` rejects with. Throws (failing the test) when it resolves, and rethrows
 * any other error as it is, so that a bug surfaces with its own message and stack.
 */
export async function rejection(promise: Promise<unknown>): Promise<AtrestError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    if (isAtrestError(err)) return err;
    throw err;
  }
  throw new Error(
    `expected the promise to reject with an atrest error; it resolved with ${inspect(value, { depth: 1 })}`,
  );
}

/** What a finished process left. */
export type Run = { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string };

/** Options of `spawnNode`. */
export type SpawnNodeOptions = {
  /** The child's whole environment besides PATH and HOME: nothing else is inherited (no ATREST_ variables). */
  env?: Readonly<Record<string, string>>;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Default: the current directory. */
  cwd?: string;
  /** Default: a fresh temporary directory, so nothing is written to the real home. */
  home?: string;
};

/** Start `node <args>` as a real process; `done` resolves when it has exited, with everything it wrote. */
export function spawnNode(
  args: readonly string[],
  options: SpawnNodeOptions = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: options.home ?? tempDir('atrest-home-'), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  // The child may be killed (or exit) before it reads stdin: a broken pipe there is expected.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input ?? '');
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  return { child, done };
}

/** In-memory stdin (holding `input`), stdout and stderr, and what was written to the last two. */
export type MemoryStreams = {
  readonly io: { readonly stdin: PassThrough; readonly stdout: PassThrough; readonly stderr: PassThrough };
  out(): Buffer;
  err(): string;
};

/** Streams for code that takes `{ stdin, stdout, stderr }` (runCli), read back after it ran. */
export function memoryStreams(input: string | Uint8Array = ''): MemoryStreams {
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (d: Buffer) => out.push(d));
  stderr.on('data', (d: Buffer) => err.push(d));
  return {
    io: { stdin, stdout, stderr },
    out: () => Buffer.concat(out),
    err: () => Buffer.concat(err).toString('utf8'),
  };
}

/** One line a `recordingLogger` was told. */
export type LogRecord = { level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields?: LogFields };

/** A logger that keeps every record; `warnings` are the records of level warn (a provider's retries). */
export type RecordingLogger = Logger & { readonly records: LogRecord[]; readonly warnings: LogRecord[] };

export function recordingLogger(): RecordingLogger {
  const records: LogRecord[] = [];
  const log = (level: LogRecord['level']) => (message: string, fields?: LogFields) => {
    records.push({ level, message, ...(fields === undefined ? {} : { fields }) });
  };
  return {
    records,
    get warnings() {
      return records.filter((r) => r.level === 'warn');
    },
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
}

/**
 * What core's loader passes to `create()` of provider `<type>.<name>` with `config` as its validated
 * section (app `atrest`, not a first boot), so that a provider's tests make it as atrest would.
 */
export function createOptions<C>(
  type: string,
  config: C,
  { name = 'test', logger = silentLogger }: { readonly name?: string; readonly logger?: Logger | undefined } = {},
): ProviderCreateOptions<C> {
  return { id: `${type}.${name}`, type, name, config, app: 'atrest', appRoot: process.cwd(), firstUse: false, logger };
}
