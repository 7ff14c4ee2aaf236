// atrest's own tables in a PostgreSQL application database, created and upgraded by forward
// migrations, as the SQLite store does. Nodes that start at once on an empty database upgrade it
// once: the upgrade runs under a transaction advisory lock.
import { STORE_SCHEMA_VERSION, errors } from '@atrest/core';
import type pg from 'pg';
import { ADVISORY_SPACE, inTransaction } from './database.js';

/** The advisory lock (in atrest's space) that serialises schema upgrades. */
const SCHEMA_LOCK = 1;

/**
 * Forward migrations; index + 1 is the schema version, so there are STORE_SCHEMA_VERSION of them.
 * Never edit a released step: add one. Times are ISO-8601 text, as in the SQLite store.
 */
const migrations: readonly string[] = [
  `CREATE TABLE atrest_data_keys (
     id text PRIMARY KEY,                   -- 32 lower-case hex digits; 16 bytes in ciphertexts
     label text NOT NULL,                   -- '<scope>/<YYYY-MM-DD>'
     provider text NOT NULL,                -- '<type>.<name>' that wrapped it
     key_ref text NOT NULL,                 -- the provider key (version) that wrapped it; public
     wrapped bytea NOT NULL,                -- the provider's wrapped bytes
     active boolean NOT NULL DEFAULT true,  -- used for new encryptions
     encryptions_reserved bigint NOT NULL DEFAULT 0,
     created_at text NOT NULL,
     updated_at text NOT NULL
   );
   -- The database decides between nodes: at most one active data key per label and provider.
   CREATE UNIQUE INDEX atrest_data_keys_one_active ON atrest_data_keys (label, provider) WHERE active;
   CREATE INDEX atrest_data_keys_provider ON atrest_data_keys (provider);
   CREATE TABLE atrest_secrets (
     id bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- the key of paged scans
     name text PRIMARY KEY,
     value bytea NOT NULL,                  -- binary envelope (encrypted) or the plain bytes
     encrypted boolean NOT NULL,
     created_at text NOT NULL,
     updated_at text NOT NULL
   );
   CREATE TABLE atrest_meta (key text PRIMARY KEY, value text NOT NULL);`,
  // 2: data keys dropped when encryption was turned off are kept but no longer count.
  'ALTER TABLE atrest_data_keys ADD COLUMN dropped_at text',
  // 3: seals, where plaintext is refused; atrest's own secrets sealed unless plaintext rows are there.
  `CREATE TABLE atrest_seals (place text PRIMARY KEY, sealed_at text NOT NULL);
   INSERT INTO atrest_seals (place, sealed_at)
     SELECT 'atrest_secrets', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
     WHERE NOT EXISTS (SELECT 1 FROM atrest_secrets WHERE NOT encrypted)`,
];

/** The schema version recorded in the database (0: none of atrest's tables yet). */
export async function schemaVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM atrest_schema');
  return rows[0]?.v ?? 0;
}

/**
 * Bring atrest's tables to STORE_SCHEMA_VERSION, or refuse a database a newer atrest upgraded.
 * `create` false (a command that creates nothing): a database without atrest's tables is
 * ATREST_NOT_INITIALIZED, and nothing is created in it.
 */
export async function upgradeSchema(pool: pg.Pool, create: boolean, shown: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY_SPACE, SCHEMA_LOCK]);
    if (create) {
      await client.query(
        'CREATE TABLE IF NOT EXISTS atrest_schema (version integer NOT NULL, applied_at text NOT NULL)',
      );
    } else {
      const { rows } = await client.query<{ found: boolean }>(
        "SELECT to_regclass('atrest_schema') IS NOT NULL AS found",
      );
      if (rows[0]?.found !== true) {
        throw errors.notInitialized(
          `The PostgreSQL database ${shown} has no atrest tables: atrest was never started on it.`,
          "Check the database URL; atrest creates its tables on first start only: the application's, " +
            "'atrest init', or a first write.",
          { details: { database: shown, missing: 'tables' } },
        );
      }
    }
    const current = await schemaVersion(client);
    if (current > STORE_SCHEMA_VERSION) throw errors.schemaTooNew(current, STORE_SCHEMA_VERSION);
    for (let v = current; v < STORE_SCHEMA_VERSION; v++) {
      await client.query(migrations[v] ?? '');
      await client.query('INSERT INTO atrest_schema (version, applied_at) VALUES ($1, $2)', [
        v + 1,
        new Date().toISOString(),
      ]);
    }
  });
}
