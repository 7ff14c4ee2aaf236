// A database another process holds the write lock of: the message an operator needs names the
// database file and, when the system can tell, the process holding it (Linux: /proc/locks).
import { readFileSync, statSync } from 'node:fs';
import { errors } from '@atrest/core';
import type { AtrestError } from '@atrest/core';

/** SQLite's "busy" results (SQLITE_BUSY and its extended codes), anywhere in the cause chain. */
export function isDatabaseBusy(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** `major:minor:inode` of a file as /proc/locks writes it, or undefined when it does not exist. */
function lockKey(path: string): string | undefined {
  try {
    const { dev, ino } = statSync(path);
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    return `${hex((dev >> 8) & 0xfff)}:${hex((dev & 0xff) | ((dev >> 12) & 0xfff00))}:${ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The process holding the write lock: SQLite takes it on byte 120 of the `-shm` file in WAL mode,
 * on the database file itself otherwise. Undefined where /proc/locks does not exist or names no one.
 */
function lockHolder(database: string): string | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  const shm = lockKey(`${database}-shm`);
  const db = lockKey(database);
  for (const line of table.split('\n')) {
    // 1: POSIX  ADVISORY  WRITE 31640 fe:00:2172696 120 120
    const [, , , mode, pid, file, start] = line.trim().split(/\s+/);
    const writer = mode === 'WRITE' && ((file === shm && start === '120') || file === db);
    if (!writer || pid === undefined || pid === String(process.pid)) continue;
    let command = '';
    try {
      // The process name only: its command line may carry secrets of its own.
      command = ` (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
    } catch {
      // gone meanwhile, or not ours to see
    }
    return `process ${pid}${command}`;
  }
  return undefined;
}

/** The operator's message for a database whose write lock another process held too long. */
export function databaseBusy(database: string | undefined, cause: unknown): AtrestError {
  const holder = database === undefined ? undefined : lockHolder(database);
  return errors.store(
    `The database ${database ?? '(see [database] path)'} is locked: ${holder ?? 'another process'} ` +
      'held its write lock for longer than atrest waits.',
    'Run the command again once it has finished writing (an application may have to be idle or stopped); ' +
      'migrations resume where they stopped.',
    {
      cause,
      details: { ...(database !== undefined ? { database } : {}), ...(holder !== undefined ? { holder } : {}) },
    },
  );
}
