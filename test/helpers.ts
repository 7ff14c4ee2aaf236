// Shared helpers of the end-to-end tests: temporary application directories and the CLI as a real process.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (test/dist/ is two levels below). */
export const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
/** The built CLI entry. */
export const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'src', 'bin.js');

/** A fresh temporary directory. */
export function tempDir(prefix = 'atrest-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** What a finished process left. */
export type Run = { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string };

/** Run the atrest CLI as a real process with `env` only (no inherited ATREST_ variables). */
export function runAtrest(args: readonly string[], options: { env?: Record<string, string>; input?: string | Buffer; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { PATH: process.env['PATH'] ?? '', HOME: tempDir('atrest-home-'), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(options.input ?? '');
  });
}
