// The migration lock on PostgreSQL: a session advisory lock held on a connection of its own, so the
// database itself releases it when the holder dies (a killed process, a lost node). Who holds it
// is written beside it in atrest_meta, with the holder's server process, so that a refusal names
// the right holder even while a new one is writing its row.
import { randomBytes } from 'node:crypto';
import { type LockClearing, type LockHolder, type MigrationLock, errors, parseJsonRecord } from '@atrest/core';
import { ADVISORY_SPACE, type PostgresDatabase } from './database.js';
import { storeFailure } from './failures.js';

const MIGRATION_LOCK = 2;
const LOCK_KEY = 'migration_lock';

/** The holder row, as JSON in atrest_meta: `backend` is the server process holding the advisory lock. */
type HolderRow = LockHolder & { readonly backend: number; readonly lockId: string };

/** Take the lock for `holder`, or throw ATREST_LOCKED naming the process that holds it. */
export async function acquirePostgresLock(db: PostgresDatabase, holder: LockHolder): Promise<MigrationLock> {
  const client = await db.pool.connect();
  let lost: unknown;
  const onError = (err: unknown) => {
    lost = err;
  };
  client.on('error', onError);
  let released = false;
  const done = (err?: Error) => {
    released = true;
    client.off('error', onError);
    client.release(err);
  };
  let row: HolderRow;
  try {
    const { rows } = await client.query<{ got: boolean; backend: number }>(
      'SELECT pg_try_advisory_lock($1, $2) AS got, pg_backend_pid() AS backend',
      [ADVISORY_SPACE, MIGRATION_LOCK],
    );
    const got = rows[0];
    if (!got?.got) throw errors.locked(await currentHolder(db), db.shown);
    row = { ...holder, backend: got.backend, lockId: randomBytes(8).toString('hex') };
    await client.query(
      'INSERT INTO atrest_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [LOCK_KEY, JSON.stringify(row)],
    );
  } catch (err) {
    done();
    throw storeFailure(err, 'take the migration lock in', db.shown);
  }
  return {
    async heartbeat() {
      try {
        if (released) throw new Error('released');
        if (lost !== undefined) throw lost;
        await client.query('SELECT 1');
      } catch (cause) {
        // The lock went with its connection: another node may hold it now. Stop rather than run two migrations.
        throw errors.store(
          `The migration lock on ${db.shown} was lost with its connection (${(cause as Error).message}).`,
          'The migration stopped where it was; run the command again.',
          { cause },
        );
      }
    },
    async release() {
      if (released) return;
      try {
        await client.query('DELETE FROM atrest_meta WHERE key = $1 AND value = $2', [LOCK_KEY, JSON.stringify(row)]);
        await client.query('SELECT pg_advisory_unlock($1, $2)', [ADVISORY_SPACE, MIGRATION_LOCK]);
        done();
      } catch (err) {
        // A broken connection has released the advisory lock already; it is not given back to the pool.
        done(err instanceof Error ? err : new Error(String(err)));
        throw storeFailure(err, 'release the migration lock in', db.shown);
      }
    },
  };
}

/**
 * The holder of the lock: the row whose server process holds the advisory lock. A new holder may
 * not have committed its row yet (a few milliseconds): the row is read again until it matches.
 */
async function currentHolder(db: PostgresDatabase): Promise<LockHolder> {
  let found: HolderRow | undefined;
  for (let attempt = 0; attempt < 40; attempt++) {
    const { rows } = await db.pool.query<{ backend: number | null; value: string | null }>(
      `SELECT (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
                 AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2) AS backend,
              (SELECT value FROM atrest_meta WHERE key = $3) AS value`,
      [ADVISORY_SPACE, MIGRATION_LOCK, LOCK_KEY],
    );
    const { backend, value } = rows[0] ?? { backend: null, value: null };
    const parsed = value === null ? undefined : parseHolder(value);
    // A damaged row names nobody; the advisory lock itself still decides.
    found = typeof parsed === 'string' ? undefined : parsed;
    if (backend === null || found?.backend === backend) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return found ?? { command: 'unknown', pid: 0, host: 'unknown', since: 'unknown' };
}

/** The holder row parsed, or what is wrong with it. */
function parseHolder(value: string): HolderRow | string {
  return parseJsonRecord<HolderRow>(value, {
    command: 'string',
    pid: 'number',
    host: 'string',
    since: 'string',
    backend: 'number',
  });
}

/**
 * `secrets-migration unlock`: with the advisory lock free, no process holds the lock, and the row
 * (damaged, or left by a killed holder) is deleted; ATREST_LOCKED while a live session holds it.
 */
export async function clearPostgresLock(db: PostgresDatabase): Promise<LockClearing> {
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [
      ADVISORY_SPACE,
      MIGRATION_LOCK,
    ]);
    if (!rows[0]?.got) throw errors.locked(await currentHolder(db), db.shown);
    try {
      const { rows: held } = await client.query<{ value: string }>(
        'DELETE FROM atrest_meta WHERE key = $1 RETURNING value',
        [LOCK_KEY],
      );
      const value = held[0]?.value;
      if (value === undefined) return { cleared: 'none' };
      const row = parseHolder(value);
      if (typeof row === 'string') return { cleared: 'damaged', problem: row };
      return { cleared: 'stale', holder: { command: row.command, pid: row.pid, host: row.host, since: row.since } };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [ADVISORY_SPACE, MIGRATION_LOCK]);
    }
  } catch (err) {
    throw storeFailure(err, 'clear the migration lock in', db.shown);
  } finally {
    client.release();
  }
}
