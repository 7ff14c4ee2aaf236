// The PostgreSQL store: atrest's tables and the registered targets through node-postgres, behind
// core's Store seam. Every method is one statement (a batch in one statement or one transaction);
// the database decides between nodes (a unique index for the active data key, row locks for the
// budget and compare-and-swap), never a process mutex.
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  type DataKeyRecord,
  type DataKeyRewrap,
  type LockClearing,
  type LockHolder,
  type MigrationLock,
  type NewDataKey,
  type RewrapOutcome,
  type RowId,
  type SecretRecord,
  type SecretRow,
  type SecretSummary,
  type SecretSwap,
  type Store,
  type StoreOpenOptions,
  type TargetRow,
  type TargetSpec,
  type TargetSwap,
  type VacuumOutcome,
  errors,
} from '@atrest/core';
import type pg from 'pg';
import { type OpenPostgresOptions, openPostgres } from './connect.js';
import { type PostgresDatabase, describePool, inTransaction } from './database.js';
import { storeFailure } from './failures.js';
import { acquirePostgresLock, clearPostgresLock } from './lock.js';
import { schemaVersion, upgradeSchema } from './schema.js';
import type { PostgresSettings } from './settings.js';
import { PostgresTargets } from './targets.js';

/** A row of atrest_data_keys as node-postgres returns it (bigint as text). */
type DataKeyRow = {
  id: string;
  label: string;
  provider: string;
  key_ref: string;
  wrapped: Buffer;
  active: boolean;
  encryptions_reserved: string;
  created_at: string;
  updated_at: string;
  dropped_at: string | null;
};

const toDataKey = (r: DataKeyRow): DataKeyRecord => ({
  id: r.id,
  label: r.label,
  provider: r.provider,
  keyRef: r.key_ref,
  wrapped: r.wrapped,
  active: r.active,
  encryptionsReserved: Number(r.encryptions_reserved),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  droppedAt: r.dropped_at,
});

type Seal = { place: string; sealed_at: string };
type SecretDbRow = { id: string; name: string; value: Buffer; encrypted: boolean };
type Times = { created_at: string; updated_at: string };
const toSecretRow = (r: SecretDbRow): SecretRow => ({
  id: Number(r.id),
  name: r.name,
  value: r.value,
  encrypted: r.encrypted,
});

/** SQL for the hex data key id that the envelope in `column` names (offsets from the format). */
const dataKeyIdOf = (column: string) =>
  `encode(substring(${column} from ${DATA_KEY_ID_OFFSET + 1} for ${DATA_KEY_ID_LENGTH}), 'hex')`;

// Text is ordered byte by byte whatever the database's collation, as SQLite orders it.
const C = 'COLLATE "C"';

/**
 * The server's time as ISO-8601 text, as the SQLite store writes it: data keys are dated by the
 * database's clock, which every node shares, never by a node's (the cleanup compares these times).
 * The statement's time, not now()'s transaction start: the re-wrap waits for its table lock, and
 * a key reserved meanwhile must not be dated as retired before that reservation.
 */
const NOW = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Open the store on `database`: settings (atrest's own pool, ended on close) or the application's
 * pg.Pool (left open). atrest's tables are created or upgraded first.
 */
export async function openPostgresStore(
  database: PostgresSettings | pg.Pool,
  options: OpenPostgresOptions & Partial<StoreOpenOptions> = {},
): Promise<Store> {
  const db: PostgresDatabase & { owned: boolean } =
    // Told apart by shape, not instanceof: the application's pg may be another copy than ours.
    'connect' in database
      ? { pool: database, shown: describePool(database), owned: false }
      : { ...(await openPostgres(database, options)), shown: database.shown, owned: true };
  try {
    await upgradeSchema(db.pool, options.create ?? true, db.shown);
  } catch (err) {
    if (db.owned) await db.pool.end();
    throw storeFailure(err, 'set up its tables in', db.shown);
  }
  return new PostgresStore(db);
}

class PostgresStore implements Store {
  private readonly targets: PostgresTargets;
  readonly location: string;

  constructor(private readonly db: PostgresDatabase & { readonly owned: boolean }) {
    this.targets = new PostgresTargets(db.pool);
    this.location = db.shown;
  }

  /** Run `work`; what it throws becomes a catalogue error naming what atrest tried to do. */
  private async run<T>(what: string, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await work(this.db.pool);
    } catch (err) {
      throw storeFailure(err, what, this.db.shown);
    }
  }

  private async rows<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<R[]> {
    return this.run(what, async (pool) => (await pool.query<R>(sql, params)).rows);
  }

  private async changed(what: string, sql: string, params: unknown[]): Promise<number> {
    return this.run(what, async (pool) => (await pool.query(sql, params)).rowCount ?? 0);
  }

  schemaVersion(): Promise<number> {
    return this.run('read the schema version of', schemaVersion);
  }

  async dataKey(id: string): Promise<DataKeyRecord | undefined> {
    const [row] = await this.rows<DataKeyRow>('read a data key from', 'SELECT * FROM atrest_data_keys WHERE id = $1', [
      id,
    ]);
    return row && toDataKey(row);
  }

  async activeDataKey(label: string, provider: string): Promise<DataKeyRecord | undefined> {
    const [row] = await this.rows<DataKeyRow>(
      'read the active data key from',
      'SELECT * FROM atrest_data_keys WHERE label = $1 AND provider = $2 AND active',
      [label, provider],
    );
    return row && toDataKey(row);
  }

  async createActiveDataKey(key: NewDataKey): Promise<DataKeyRecord> {
    // The unique index decides: a racing insert waits for the winner's commit, then does nothing.
    // The winner is read by a second statement, whose snapshot sees that commit. Twice, in case the
    // winner was retired in between.
    for (let attempt = 0; attempt < 2; attempt++) {
      const [inserted] = await this.rows<DataKeyRow>(
        'commit a new data key to',
        `INSERT INTO atrest_data_keys
           (id, label, provider, key_ref, wrapped, active, encryptions_reserved, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, true, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING *`,
        [key.id, key.label, key.provider, key.keyRef, key.wrapped, key.encryptionsReserved, key.createdAt],
      );
      const active = inserted ? toDataKey(inserted) : await this.activeDataKey(key.label, key.provider);
      if (active) return active;
    }
    throw errors.internal(`no active data key for label ${key.label} after inserting one`);
  }

  async reserveEncryptions(id: string, count: number, cap: number): Promise<boolean> {
    const n = await this.changed(
      'reserve encryptions in',
      `UPDATE atrest_data_keys SET encryptions_reserved = encryptions_reserved + $2, updated_at = ${NOW}
       WHERE id = $1 AND active AND encryptions_reserved + $2 <= $3`,
      [id, count, cap],
    );
    return n === 1;
  }

  async retireDataKey(id: string): Promise<boolean> {
    const sql = `UPDATE atrest_data_keys SET active = false, updated_at = ${NOW} WHERE id = $1 AND active`;
    return (await this.changed('retire a data key in', sql, [id])) === 1;
  }

  retireActiveDataKeys(): Promise<number> {
    const sql = `UPDATE atrest_data_keys SET active = false, updated_at = ${NOW} WHERE active`;
    return this.changed('retire the active data keys in', sql, []);
  }

  dropDataKeys(): Promise<number> {
    const sql = `UPDATE atrest_data_keys SET active = false, dropped_at = ${NOW}, updated_at = ${NOW}
                 WHERE dropped_at IS NULL`;
    return this.changed('drop the data keys in', sql, []);
  }

  deleteDataKeys(ids: readonly string[], retiredBefore: string): Promise<number> {
    const sql = 'DELETE FROM atrest_data_keys WHERE NOT active AND updated_at <= $2 AND id = ANY($1::text[])';
    return this.changed('delete unused data keys from', sql, [ids, retiredBefore]);
  }

  async now(): Promise<number> {
    const [row] = await this.rows<{ now: string }>("read the server's clock of", `SELECT ${NOW} AS now`);
    return Date.parse(row?.now ?? '');
  }

  async listDataKeys(): Promise<DataKeyRecord[]> {
    const sql = `SELECT * FROM atrest_data_keys ORDER BY created_at ${C}, id ${C}`;
    return (await this.rows<DataKeyRow>('list the data keys of', sql)).map(toDataKey);
  }

  async countDataKeys(provider?: string): Promise<number> {
    const [row] = await this.rows<{ n: string }>(
      'count the data keys of',
      'SELECT count(*) AS n FROM atrest_data_keys WHERE dropped_at IS NULL AND ($1::text IS NULL OR provider = $1)',
      [provider ?? null],
    );
    return Number(row?.n ?? 0);
  }

  async newestDataKeys(perProviderKey: number): Promise<DataKeyRecord[]> {
    const rows = await this.rows<DataKeyRow>(
      'read the newest data keys of',
      `SELECT id, label, provider, key_ref, wrapped, active, encryptions_reserved, created_at, updated_at, dropped_at
       FROM (SELECT *, row_number() OVER (PARTITION BY provider, key_ref ORDER BY created_at ${C} DESC, id ${C}) AS n
             FROM atrest_data_keys WHERE dropped_at IS NULL) k
       WHERE n <= $1 ORDER BY provider ${C}, key_ref ${C}, n`,
      [perProviderKey],
    );
    return rows.map(toDataKey);
  }

  rewrapDataKeys(rewraps: readonly DataKeyRewrap[], options: { retireActive: boolean }): Promise<RewrapOutcome> {
    return this.run('write the re-wrapped data keys to', (pool) =>
      inTransaction(pool, async (client) => {
        // No data key is made or changed meanwhile: the check for an active key of the new provider holds.
        await client.query('LOCK TABLE atrest_data_keys IN SHARE ROW EXCLUSIVE MODE');
        const conflicts: string[] = [];
        for (const r of rewraps) {
          // A data key that moves to a provider with an active key of its label already is retired.
          const { rowCount } = await client.query(
            `UPDATE atrest_data_keys SET provider = $2, key_ref = $3, wrapped = $4, updated_at = ${NOW},
               active = active AND NOT EXISTS (SELECT 1 FROM atrest_data_keys o
                 WHERE o.label = atrest_data_keys.label AND o.provider = $2 AND o.active AND o.id <> $1)
             WHERE id = $1 AND wrapped = $5`,
            [r.id, r.provider, r.keyRef, r.wrapped, r.expectedWrapped],
          );
          if (rowCount !== 1) conflicts.push(r.id);
        }
        const retired = options.retireActive
          ? ((await client.query(`UPDATE atrest_data_keys SET active = false, updated_at = ${NOW} WHERE active`))
              .rowCount ?? 0)
          : 0;
        return { conflicts, retired };
      }),
    );
  }

  async getSecret(name: string): Promise<SecretRecord | undefined> {
    const [r] = await this.rows<Omit<SecretDbRow, 'id'> & Times>(
      'read a secret from',
      'SELECT name, value, encrypted, created_at, updated_at FROM atrest_secrets WHERE name = $1',
      [name],
    );
    return (
      r && { name: r.name, value: r.value, encrypted: r.encrypted, createdAt: r.created_at, updatedAt: r.updated_at }
    );
  }

  async putSecret(name: string, value: Uint8Array, encrypted: boolean): Promise<void> {
    await this.changed(
      'write a secret to',
      `INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (name) DO UPDATE SET
         value = excluded.value, encrypted = excluded.encrypted, updated_at = excluded.updated_at`,
      [name, Buffer.from(value.buffer, value.byteOffset, value.byteLength), encrypted, new Date().toISOString()],
    );
  }

  async deleteSecret(name: string): Promise<boolean> {
    return (await this.changed('delete a secret from', 'DELETE FROM atrest_secrets WHERE name = $1', [name])) === 1;
  }

  async listSecrets(): Promise<SecretSummary[]> {
    const rows = await this.rows<Pick<SecretDbRow, 'name' | 'encrypted'> & Times & { size: number }>(
      'list the secrets of',
      `SELECT name, encrypted, octet_length(value) AS size, created_at, updated_at
       FROM atrest_secrets ORDER BY name ${C}`,
    );
    return rows.map((r) => ({
      name: r.name,
      size: r.size,
      encrypted: r.encrypted,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  async countSecrets(): Promise<number> {
    const [row] = await this.rows<{ n: string }>('count the secrets of', 'SELECT count(*) AS n FROM atrest_secrets');
    return Number(row?.n ?? 0);
  }

  async readSecrets(after: RowId | undefined, limit: number): Promise<SecretRow[]> {
    const rows = await this.rows<SecretDbRow>(
      'read secrets from',
      'SELECT id, name, value, encrypted FROM atrest_secrets WHERE id > $1 ORDER BY id LIMIT $2',
      [after ?? 0, limit],
    );
    return rows.map(toSecretRow);
  }

  async rereadSecrets(ids: readonly RowId[]): Promise<SecretRow[]> {
    const rows = await this.rows<SecretDbRow>(
      'read secrets from',
      'SELECT id, name, value, encrypted FROM atrest_secrets WHERE id = ANY($1::bigint[]) ORDER BY id',
      [ids],
    );
    return rows.map(toSecretRow);
  }

  async swapSecrets(swaps: readonly SecretSwap[]): Promise<SecretSwap[]> {
    if (swaps.length === 0) return [];
    // One statement: atomic, and each row's comparison sees a concurrent writer's commit.
    const written = await this.rows<{ id: string }>(
      'write re-encrypted secrets to',
      `UPDATE atrest_secrets s SET value = v.value, encrypted = v.encrypted
       FROM unnest($1::bigint[], $2::bytea[], $3::boolean[], $4::bytea[], $5::boolean[])
         AS v(id, value, encrypted, old_value, old_encrypted)
       WHERE s.id = v.id AND s.value = v.old_value AND s.encrypted = v.old_encrypted
       RETURNING s.id`,
      [
        swaps.map((w) => w.row.id),
        swaps.map((w) => w.value),
        swaps.map((w) => w.encrypted),
        swaps.map((w) => w.row.value),
        swaps.map((w) => w.row.encrypted),
      ],
    );
    const ids = new Set(written.map((r) => Number(r.id)));
    return swaps.filter((w) => !ids.has(Number(w.row.id)));
  }

  async secretsByDataKey(): Promise<Map<string, number>> {
    const rows = await this.rows<{ id: string; n: string }>(
      'count the secrets of',
      `SELECT CASE WHEN NOT encrypted THEN '' ELSE ${dataKeyIdOf('value')} END AS id, count(*) AS n
       FROM atrest_secrets GROUP BY 1`,
    );
    return new Map(rows.map((r) => [r.id, Number(r.n)]));
  }

  async countSecretsUnder(dataKeyIds: readonly string[]): Promise<number> {
    if (dataKeyIds.length === 0) return 0;
    const [row] = await this.rows<{ n: string }>(
      'count the secrets of',
      `SELECT count(*) AS n FROM atrest_secrets WHERE encrypted AND ${dataKeyIdOf('value')} = ANY($1::text[])`,
      [dataKeyIds],
    );
    return Number(row?.n ?? 0);
  }

  targetColumns(target: TargetSpec): Promise<readonly string[] | undefined> {
    return this.run('read the columns of a target in', () => this.targets.columns(target));
  }

  countTargetRows(target: TargetSpec): Promise<number> {
    return this.run(`count the rows of ${target.table} in`, () => this.targets.count(target));
  }

  readTargetRows(target: TargetSpec, after: RowId | undefined, limit: number): Promise<TargetRow[]> {
    return this.run(`read ${target.spec} from`, () => this.targets.read(target, after, limit));
  }

  rereadTargetRows(target: TargetSpec, ids: readonly RowId[]): Promise<TargetRow[]> {
    return this.run(`read ${target.spec} from`, () => this.targets.reread(target, ids));
  }

  swapTargetCells(target: TargetSpec, swaps: readonly TargetSwap[]): Promise<TargetSwap[]> {
    return this.run(`write ${target.spec} to`, () => this.targets.swap(target, swaps));
  }

  async seals(): Promise<Map<string, string>> {
    const rows = await this.rows<Seal>('read atrest_seals in', 'SELECT place, sealed_at FROM atrest_seals');
    return new Map(rows.map((r) => [r.place, r.sealed_at]));
  }

  async seal(place: string, at: string): Promise<void> {
    const sql = 'INSERT INTO atrest_seals (place, sealed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING';
    await this.changed('write atrest_seals in', sql, [place, at]);
  }

  unseal(places?: readonly string[]): Promise<number> {
    return places === undefined
      ? this.changed('write atrest_seals in', 'DELETE FROM atrest_seals', [])
      : this.changed('write atrest_seals in', 'DELETE FROM atrest_seals WHERE place = ANY($1)', [places]);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const [row] = await this.rows<{ value: string }>(
      'read atrest_meta in',
      'SELECT value FROM atrest_meta WHERE key = $1',
      [key],
    );
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.changed(
      'write atrest_meta in',
      'INSERT INTO atrest_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async claimMeta(key: string, value: string): Promise<string> {
    // ON CONFLICT DO NOTHING returns no row to the loser: it reads the winner's value after.
    await this.changed(
      'write atrest_meta in',
      'INSERT INTO atrest_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
      [key, value],
    );
    return (await this.getMeta(key)) ?? value;
  }

  acquireMigrationLock(holder: LockHolder): Promise<MigrationLock> {
    return acquirePostgresLock(this.db, holder);
  }

  clearMigrationLock(): Promise<LockClearing> {
    return clearPostgresLock(this.db);
  }

  /** Dead tuples are the server's: VACUUM is the operator's step (docs/SEVERAL-NODES.md). */
  async scrubRewrites(): Promise<boolean> {
    return true;
  }

  async vacuum(): Promise<VacuumOutcome> {
    return { vacuumed: false, reason: 'on PostgreSQL, VACUUM (FULL) is a step of its own (docs/SEVERAL-NODES.md)' };
  }

  async close(): Promise<void> {
    if (this.db.owned && !this.db.pool.ended) await this.db.pool.end();
  }
}
