// The migration lock of a SQLite database: a row of atrest_meta naming the holder (host, pid,
// process token, heartbeat). SQLite has no lock that outlives a statement and dies with its
// holder, so a dead holder is recognised instead: its pid is gone on this host, or its heartbeat
// is older than the stale limit (which also covers another host, and a reused pid).
import { randomBytes } from 'node:crypto';
import { errors } from '../errors.js';
import type { LockHolder } from '../errors.js';
import { parseJsonRecord } from './json-record.js';
import { sqliteFailure } from './sqlite-database.js';
import type { Db } from './sqlite-database.js';
import type { LockClearing, MigrationLock } from './types.js';

const LOCK_KEY = 'migration_lock';
/** A lock whose heartbeat is older than this is taken over even from another host. */
const STALE_MS = 10 * 60_000;

/**
 * The lock row as stored (JSON): `token` names the process (its pid may be reused), `lockId` this
 * acquisition (one process may take the lock again after releasing it); `startedAt` is `since`.
 */
type LockRow = {
  host: string;
  pid: number;
  token: string;
  lockId: string;
  command: string;
  startedAt: string;
  heartbeat: number;
};

/** This process's identity in locks: the pid alone is reused (a restarted container, a recycled pid). */
const PROCESS_TOKEN = randomBytes(8).toString('hex');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const LOCK_FIELDS = { host: 'string', pid: 'number', token: 'string', lockId: 'string', command: 'string' } as const;

/** The lock row parsed, or what is wrong with it. */
function parseLock(value: string): LockRow | string {
  return parseJsonRecord<LockRow>(value, { ...LOCK_FIELDS, startedAt: 'string', heartbeat: 'number' });
}

function readLock(db: Db): LockRow | undefined {
  const row = db.prepare('SELECT value FROM atrest_meta WHERE key = ?').get(LOCK_KEY) as { value: string } | undefined;
  if (row === undefined) return undefined;
  const lock = parseLock(row.value);
  if (typeof lock === 'string') throw errors.lockDamaged('atrest_meta', LOCK_KEY, lock);
  return lock;
}

function writeLock(db: Db, lock: LockRow): void {
  db.prepare(
    'INSERT INTO atrest_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(LOCK_KEY, JSON.stringify(lock));
}

/** True when `held` no longer stands: stale, or its process is gone (same host), or an earlier instance of this pid. */
function isDead(held: LockRow, me: LockRow, now: number): boolean {
  if (now - held.heartbeat > STALE_MS) return true;
  if (held.host !== me.host) return false;
  // The same pid with another token is a previous process that had this pid; with ours, it is a
  // second migration in this very process: held.
  if (held.pid === me.pid) return held.token !== me.token;
  return !alive(held.pid);
}

/** Take the lock for `holder` or throw ATREST_LOCKED naming the process that holds it. */
export function acquireSqliteLock(db: Db, holder: LockHolder): MigrationLock {
  const me: LockRow = {
    host: holder.host,
    pid: holder.pid,
    token: PROCESS_TOKEN,
    lockId: randomBytes(8).toString('hex'),
    command: holder.command,
    startedAt: holder.since,
    heartbeat: Date.now(),
  };
  db.transaction(() => {
    const held = readLock(db);
    if (held !== undefined && !isDead(held, me, Date.now())) {
      throw errors.locked({ command: held.command, pid: held.pid, host: held.host, since: held.startedAt }, db.name);
    }
    writeLock(db, me);
  }).immediate();
  const ours = (held: LockRow | undefined): boolean =>
    held !== undefined && held.token === me.token && held.lockId === me.lockId;
  const inTransaction = async (what: string, step: (held: LockRow | undefined) => void): Promise<void> => {
    try {
      db.transaction(() => step(readLock(db))).immediate();
    } catch (err) {
      throw sqliteFailure(err, what, db);
    }
  };
  return {
    heartbeat: () =>
      inTransaction('refresh the migration lock in', (held) => {
        // Taken over (this process looked dead for the stale limit): stop rather than run two migrations.
        if (held !== undefined && !ours(held)) {
          throw errors.locked(
            { command: held.command, pid: held.pid, host: held.host, since: held.startedAt },
            db.name,
          );
        }
        me.heartbeat = Date.now();
        writeLock(db, me);
      }),
    release: async () => {
      try {
        db.transaction(() => {
          const row = db.prepare('SELECT value FROM atrest_meta WHERE key = ?').get(LOCK_KEY) as
            | { value: string }
            | undefined;
          // A row damaged meanwhile is not ours: left for 'secrets-migration unlock'.
          const held = row === undefined ? undefined : parseLock(row.value);
          if (typeof held !== 'string' && ours(held)) db.prepare('DELETE FROM atrest_meta WHERE key = ?').run(LOCK_KEY);
        }).immediate();
      } catch (err) {
        throw sqliteFailure(err, 'release the migration lock in', db);
      }
    },
  };
}

/**
 * `secrets-migration unlock`: clear a damaged lock row, or the row of a holder that is dead;
 * ATREST_LOCKED while a live process holds the lock (it is never broken).
 */
export function clearSqliteLock(db: Db, host: string): LockClearing {
  return db
    .transaction((): LockClearing => {
      const row = db.prepare('SELECT value FROM atrest_meta WHERE key = ?').get(LOCK_KEY) as
        | { value: string }
        | undefined;
      if (row === undefined) return { cleared: 'none' };
      const held = parseLock(row.value);
      if (
        typeof held !== 'string' &&
        !isDead(held, { ...held, host, pid: process.pid, token: PROCESS_TOKEN }, Date.now())
      ) {
        throw errors.locked({ command: held.command, pid: held.pid, host: held.host, since: held.startedAt }, db.name);
      }
      db.prepare('DELETE FROM atrest_meta WHERE key = ?').run(LOCK_KEY);
      if (typeof held === 'string') return { cleared: 'damaged', problem: held };
      return {
        cleared: 'stale',
        holder: { command: held.command, pid: held.pid, host: held.host, since: held.startedAt },
      };
    })
    .immediate();
}
