// One migration at a time per database: a lock row in atrest_meta naming the holder (host, pid,
// process token). A holder that died (SIGKILL, crash) does not leave it stuck: its pid is gone on
// this host, or its heartbeat is older than the stale limit (which also covers a reused pid).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AtrestError } from '../errors.js';
import type { Store } from '../store/store.js';

const LOCK_KEY = 'migration_lock';
/** A lock whose heartbeat is older than this is taken over even from another host. */
const STALE_MS = 10 * 60_000;

type LockInfo = { host: string; pid: number; token: string; command: string; startedAt: string; heartbeat: number };

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

/** A held migration lock. */
export class MigrationLock {
  private constructor(
    private readonly store: Store,
    private readonly info: LockInfo,
  ) {}

  /** Take the lock for `command` or throw ATREST_LOCKED naming the holder. */
  static acquire(store: Store, command: string): MigrationLock {
    const me: LockInfo = {
      host: hostname(),
      pid: process.pid,
      token: PROCESS_TOKEN,
      command,
      startedAt: new Date().toISOString(),
      heartbeat: Date.now(),
    };
    store.db
      .transaction(() => {
        const raw = store.getMeta(LOCK_KEY);
        if (raw !== undefined) {
          const held = JSON.parse(raw) as LockInfo;
          // Held while its process lives (same host: the pid exists and, if it is this pid, the token is
          // ours: a second migration in the same process) and its heartbeat is fresh.
          const samePid = held.host === me.host && held.pid === process.pid;
          const stale = Date.now() - held.heartbeat > STALE_MS;
          const dead = stale || (samePid ? held.token !== PROCESS_TOKEN : held.host === me.host && !alive(held.pid));
          if (!dead) {
            throw new AtrestError(
              'ATREST_LOCKED',
              `Another migration is running on this database: '${held.command}' (pid ${held.pid} on ${held.host}, since ${held.startedAt}). Wait for it to finish.`,
              { details: { pid: held.pid, host: held.host, command: held.command } },
            );
          }
        }
        store.setMeta(LOCK_KEY, JSON.stringify(me));
      })
      .immediate();
    return new MigrationLock(store, me);
  }

  /** Refresh the heartbeat (called once per batch). */
  heartbeat(): void {
    this.info.heartbeat = Date.now();
    this.store.setMeta(LOCK_KEY, JSON.stringify(this.info));
  }

  release(): void {
    this.store.db
      .transaction(() => {
        const raw = this.store.getMeta(LOCK_KEY);
        const held = raw === undefined ? undefined : (JSON.parse(raw) as LockInfo);
        if (
          held !== undefined &&
          held.pid === this.info.pid &&
          held.token === this.info.token &&
          held.startedAt === this.info.startedAt
        )
          this.store.deleteMeta(LOCK_KEY);
      })
      .immediate();
  }
}
