// Helpers of the CLI's tests: the built `atrest` as a real process, on a box of its own (a key
// file and a database in a temporary directory), through pipes or a real pseudo-terminal.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryStreams, spawnNode, tempDir } from '@atrest/testkit';
import type { Run, SpawnNodeOptions } from '@atrest/testkit';
import { runCli } from '../src/index.js';

/** The built CLI entry (this file runs from dist/test/). */
export const cliBin = fileURLToPath(new URL('../src/bin.js', import.meta.url));

/** The checkout (the CLI runs from it, as an operator runs it from the application directory). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** Run the atrest CLI as a real process with `env` only (no inherited ATREST_ variables). */
export function runAtrest(args: readonly string[], options: SpawnNodeOptions = {}): Promise<Run> {
  return spawnNode([cliBin, ...args], { cwd: repoRoot, ...options }).done;
}

/**
 * Run the CLI in this process (runCli, in-memory streams) with `env` only: what `runAtrest` does,
 * without a process start, for the tests where the process itself is not what is tested.
 */
export async function runInProcess(
  args: readonly string[],
  options: Pick<SpawnNodeOptions, 'env' | 'input'> = {},
): Promise<Pick<Run, 'code' | 'stdout' | 'stderr'>> {
  const m = memoryStreams(options.input ?? '');
  const code = await runCli(args, { env: { ...options.env }, appRoot: repoRoot, io: m.io });
  return { code, stdout: m.out(), stderr: m.err() };
}

/** A fresh appliance: its key file (through the key-path override) and database in a temporary directory. */
export function box(): { dir: string; key: string; db: string; args: string[] } {
  const dir = tempDir('atrest-cli-');
  const key = join(dir, 'srv', 'atrest-encryption.key');
  const db = join(dir, 'app.db');
  return { dir, key, db, args: ['--db', db, '--key-path', key] };
}

/** The last line an errored command wrote to stderr with --json, parsed. */
export function jsonError(run: Pick<Run, 'stderr'>): {
  code: string;
  message: string;
  details: Record<string, unknown>;
} {
  const last = run.stderr.trimEnd().split('\n').at(-1) ?? '';
  return JSON.parse(last) as { code: string; message: string; details: Record<string, unknown> };
}

/** A command running on a real pseudo-terminal (util-linux `script`): stdin, stdout and stderr are the terminal. */
export type TerminalRun = {
  /** Everything the terminal showed so far (the command's output and whatever the terminal echoed). */
  output(): string;
  /** Resolves once the terminal shows `text`; rejects if the command ends first. */
  waitFor(text: string): Promise<void>;
  /** Type on the keyboard (Enter is "\r"). */
  type(keys: string): void;
  /** The command's exit code. */
  done: Promise<number | null>;
};

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Run the atrest CLI with `args` on a pseudo-terminal, with `env` only; `stdinFrom` makes a file its
 * stdin instead (stdout and stderr stay on the terminal).
 */
export function atrestOnTerminal(
  args: readonly string[],
  options: { env?: Readonly<Record<string, string>>; stdinFrom?: string } = {},
): TerminalRun {
  const words = [process.execPath, cliBin, ...args].map(shellQuote).join(' ');
  const command = options.stdinFrom === undefined ? words : `${words} < ${shellQuote(options.stdinFrom)}`;
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', HOME: tempDir('atrest-home-'), TERM: 'dumb', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let shown = '';
  let ended: number | null | undefined;
  const waiting: { text: string; resolve: () => void; reject: (err: Error) => void }[] = [];
  const settle = (): void => {
    for (const w of waiting.splice(0)) {
      if (shown.includes(w.text)) w.resolve();
      else if (ended !== undefined) w.reject(new Error(`ended (exit ${ended}) before showing ${w.text}: ${shown}`));
      else waiting.push(w);
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    shown += d.toString('utf8');
    settle();
  });
  child.stderr.on('data', (d: Buffer) => {
    shown += d.toString('utf8');
  });
  child.stdin.on('error', () => undefined);
  const done = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      ended = code;
      settle();
      resolve(code);
    });
  });
  return {
    output: () => shown,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ text, resolve, reject });
        settle();
      }),
    type: (keys) => child.stdin.write(keys),
    done: done.finally(() => child.stdin.end()),
  };
}
