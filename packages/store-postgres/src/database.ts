// The database atrest's PostgreSQL store works on: a pool (atrest's own, or the application's),
// how it is shown, transactions on one client, and the namespace of atrest's advisory locks.
import { redactUrl } from '@atrest/core';
import type pg from 'pg';
import { postgresSettings } from './settings.js';
import { formatPostgresUrl } from './url.js';

/**
 * The first key of every advisory lock atrest takes ('atrs' in ASCII): the second names the lock,
 * so atrest's locks never collide with the application's own single-key locks.
 */
export const ADVISORY_SPACE = 0x61747273;

/** A pool and what errors show of it. */
export type PostgresDatabase = {
  readonly pool: pg.Pool;
  /** Its URL, password redacted. */
  readonly shown: string;
};

/** How an application's own pool is shown: what its options say, never its password. */
export function describePool(pool: pg.Pool): string {
  const o = pool.options;
  if (o.connectionString !== undefined) {
    try {
      return postgresSettings({ url: o.connectionString, user: o.user ?? 'unknown' }).shown;
    } catch {
      // A form atrest's parser refuses but node-postgres takes: shown as written, password redacted.
      return redactUrl(o.connectionString);
    }
  }
  return formatPostgresUrl({
    host: o.host ?? 'localhost',
    port: o.port ?? 5432,
    database: o.database ?? '',
    user: o.user ?? '',
    password: undefined,
    query: {},
  });
}

/** Run `work` in one transaction on one client: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that breaks between two statements says so in the next one; without a listener
  // its 'error' event would end the process.
  const ignore = () => undefined;
  client.on('error', ignore);
  let broken: unknown;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollback: unknown) => {
      broken = rollback;
    });
    throw err;
  } finally {
    client.off('error', ignore);
    client.release(broken instanceof Error ? broken : undefined);
  }
}
