// The SQLite store: atrest's tables and the registered targets through better-sqlite3. The driver
// is synchronous; each method runs its statements at once (a batch in one transaction) and
// resolves, so the asynchronous seam costs one promise per call, never one per row.
import { hostname } from 'node:os';
import type { TargetSpec } from '../config/types.js';
import type { LockHolder } from '../errors.js';
import { errors } from '../errors.js';
import { checkpointWal, openSqliteDatabase, schemaVersion, sqliteFailure, vacuumFile } from './sqlite-database.js';
import type { Db } from './sqlite-database.js';
import { acquireSqliteLock, clearSqliteLock } from './sqlite-lock.js';
import { SqliteSecrets } from './sqlite-secrets.js';
import { SqliteTargets } from './sqlite-targets.js';
import type {
  DataKeyRecord,
  DataKeyRewrap,
  LockClearing,
  MigrationLock,
  NewDataKey,
  RewrapOutcome,
  RowId,
  SecretRecord,
  SecretRow,
  SecretSummary,
  SecretSwap,
  Store,
  StoreOpenOptions,
  TargetRow,
  TargetSwap,
  VacuumOutcome,
} from './types.js';

/** A row of atrest_data_keys as SQLite returns it. */
type DataKeyRow = {
  id: string;
  label: string;
  provider: string;
  key_ref: string;
  wrapped: Buffer;
  active: number;
  encryptions_reserved: number;
  created_at: string;
  updated_at: string;
  dropped_at: string | null;
};

type Seal = { place: string; sealed_at: string };

function toDataKey(r: DataKeyRow): DataKeyRecord {
  return {
    id: r.id,
    label: r.label,
    provider: r.provider,
    keyRef: r.key_ref,
    wrapped: r.wrapped,
    active: r.active === 1,
    encryptionsReserved: r.encryptions_reserved,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    droppedAt: r.dropped_at,
  };
}

/** Open the SQLite store on a path or on the application's better-sqlite3 handle. */
export function openSqliteStore(database: string | Db, options: StoreOpenOptions = { create: true }): Store {
  const { db, owned } = openSqliteDatabase(database, options);
  return new SqliteStore(db, owned);
}

class SqliteStore implements Store {
  private readonly q;
  private readonly secrets: SqliteSecrets;
  private readonly targets: SqliteTargets;
  readonly location: string;

  constructor(
    private readonly db: Db,
    private readonly owned: boolean,
  ) {
    this.location = db.memory ? ':memory:' : db.name;
    this.secrets = new SqliteSecrets(db);
    this.targets = new SqliteTargets(db);
    this.q = {
      keyById: db.prepare('SELECT * FROM atrest_data_keys WHERE id = ?'),
      activeKey: db.prepare('SELECT * FROM atrest_data_keys WHERE label = ? AND provider = ? AND active = 1'),
      insertKey: db.prepare(
        `INSERT INTO atrest_data_keys
           (id, label, provider, key_ref, wrapped, active, encryptions_reserved, created_at, updated_at)
         VALUES (@id, @label, @provider, @keyRef, @wrapped, 1, @encryptionsReserved, @createdAt, @createdAt)
         ON CONFLICT DO NOTHING`,
      ),
      reserve: db.prepare(
        `UPDATE atrest_data_keys SET encryptions_reserved = encryptions_reserved + @count, updated_at = @now
         WHERE id = @id AND active = 1 AND encryptions_reserved + @count <= @cap`,
      ),
      retire: db.prepare('UPDATE atrest_data_keys SET active = 0, updated_at = ? WHERE id = ? AND active = 1'),
      retireAll: db.prepare('UPDATE atrest_data_keys SET active = 0, updated_at = ? WHERE active = 1'),
      // A data key that moves to a provider with an active key of its label already is retired:
      // at most one active data key per label and provider.
      rewrap: db.prepare(
        `UPDATE atrest_data_keys SET provider = @provider, key_ref = @keyRef, wrapped = @wrapped, updated_at = @now,
           active = CASE WHEN active = 1 AND EXISTS (SELECT 1 FROM atrest_data_keys o
             WHERE o.label = atrest_data_keys.label AND o.provider = @provider AND o.active = 1 AND o.id <> @id)
             THEN 0 ELSE active END
         WHERE id = @id AND wrapped = @expectedWrapped`,
      ),
      getMeta: db.prepare('SELECT value FROM atrest_meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO atrest_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      claimMeta: db.prepare('INSERT INTO atrest_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING'),
    };
  }

  /** Run `work` now; what it throws becomes a catalogue error naming what atrest tried to do. */
  private async run<T>(what: string, work: () => T): Promise<T> {
    try {
      return work();
    } catch (err) {
      throw sqliteFailure(err, what, this.db);
    }
  }

  schemaVersion(): Promise<number> {
    return this.run('read the schema version of', () => schemaVersion(this.db));
  }

  dataKey(id: string): Promise<DataKeyRecord | undefined> {
    return this.run('read a data key from', () => {
      const row = this.q.keyById.get(id) as DataKeyRow | undefined;
      return row === undefined ? undefined : toDataKey(row);
    });
  }

  activeDataKey(label: string, provider: string): Promise<DataKeyRecord | undefined> {
    return this.run('read the active data key from', () => {
      const row = this.q.activeKey.get(label, provider) as DataKeyRow | undefined;
      return row === undefined ? undefined : toDataKey(row);
    });
  }

  createActiveDataKey(key: NewDataKey): Promise<DataKeyRecord> {
    if (this.db.inTransaction) {
      // Only a shared in-memory handle gets here (a file gets atrest's own connection).
      return Promise.reject(
        errors.store(
          'A new data key cannot be created inside an open transaction on an in-memory database.',
          'Encrypt once before BEGIN, or give atrest a database file.',
        ),
      );
    }
    return this.run('commit a new data key to', () =>
      this.db
        .transaction(() => {
          this.q.insertKey.run(key);
          const active = this.q.activeKey.get(key.label, key.provider) as DataKeyRow | undefined;
          if (active === undefined) throw errors.internal(`no active data key for label ${key.label} after insert`);
          return toDataKey(active);
        })
        .immediate(),
    );
  }

  reserveEncryptions(id: string, count: number, cap: number): Promise<boolean> {
    return this.run(
      'reserve encryptions in',
      () => this.q.reserve.run({ id, count, cap, now: new Date().toISOString() }).changes === 1,
    );
  }

  retireDataKey(id: string): Promise<boolean> {
    return this.run('retire a data key in', () => this.q.retire.run(new Date().toISOString(), id).changes === 1);
  }

  retireActiveDataKeys(): Promise<number> {
    return this.run('retire the active data keys in', () => this.q.retireAll.run(new Date().toISOString()).changes);
  }

  dropDataKeys(): Promise<number> {
    const now = new Date().toISOString();
    return this.run(
      'drop the data keys in',
      () =>
        this.db
          .prepare('UPDATE atrest_data_keys SET active = 0, dropped_at = ?, updated_at = ? WHERE dropped_at IS NULL')
          .run(now, now).changes,
    );
  }

  deleteDataKeys(ids: readonly string[], retiredBefore: string): Promise<number> {
    return this.run(
      'delete unused data keys from',
      () =>
        this.db
          .prepare(
            `DELETE FROM atrest_data_keys
             WHERE active = 0 AND updated_at <= ? AND id IN (SELECT value FROM json_each(?))`,
          )
          .run(retiredBefore, JSON.stringify(ids)).changes,
    );
  }

  /** A SQLite file is on one host: its processes share the host's clock. */
  async now(): Promise<number> {
    return Date.now();
  }

  listDataKeys(): Promise<DataKeyRecord[]> {
    return this.run('list the data keys of', () =>
      (this.db.prepare('SELECT * FROM atrest_data_keys ORDER BY created_at, id').all() as DataKeyRow[]).map(toDataKey),
    );
  }

  countDataKeys(provider?: string): Promise<number> {
    return this.run('count the data keys of', () => {
      const sql = 'SELECT count(*) AS n FROM atrest_data_keys WHERE dropped_at IS NULL';
      const row = (
        provider === undefined ? this.db.prepare(sql).get() : this.db.prepare(`${sql} AND provider = ?`).get(provider)
      ) as { n: number };
      return row.n;
    });
  }

  newestDataKeys(perProviderKey: number): Promise<DataKeyRecord[]> {
    return this.run('read the newest data keys of', () =>
      (
        this.db
          .prepare(
            `SELECT * FROM (
               SELECT *, row_number() OVER (PARTITION BY provider, key_ref ORDER BY created_at DESC, id) AS n
               FROM atrest_data_keys WHERE dropped_at IS NULL
             ) WHERE n <= ? ORDER BY provider, key_ref, n`,
          )
          .all(perProviderKey) as DataKeyRow[]
      ).map(toDataKey),
    );
  }

  rewrapDataKeys(rewraps: readonly DataKeyRewrap[], options: { retireActive: boolean }): Promise<RewrapOutcome> {
    const now = new Date().toISOString();
    return this.run('write the re-wrapped data keys to', () =>
      this.db
        .transaction(() => {
          const conflicts = rewraps.filter((r) => this.q.rewrap.run({ ...r, now }).changes !== 1).map((r) => r.id);
          const retired = options.retireActive ? this.q.retireAll.run(now).changes : 0;
          return { conflicts, retired };
        })
        .immediate(),
    );
  }

  getSecret(name: string): Promise<SecretRecord | undefined> {
    return this.run('read a secret from', () => this.secrets.get(name));
  }

  putSecret(name: string, value: Uint8Array, encrypted: boolean): Promise<void> {
    return this.run('write a secret to', () => this.secrets.put(name, value, encrypted));
  }

  deleteSecret(name: string): Promise<boolean> {
    return this.run('delete a secret from', () => this.secrets.delete(name));
  }

  listSecrets(): Promise<SecretSummary[]> {
    return this.run('list the secrets of', () => this.secrets.list());
  }

  countSecrets(): Promise<number> {
    return this.run('count the secrets of', () => this.secrets.count());
  }

  readSecrets(after: RowId | undefined, limit: number): Promise<SecretRow[]> {
    return this.run('read secrets from', () => this.secrets.read(after ?? 0, limit));
  }

  rereadSecrets(ids: readonly RowId[]): Promise<SecretRow[]> {
    return this.run('read secrets from', () => this.secrets.reread(ids));
  }

  swapSecrets(swaps: readonly SecretSwap[]): Promise<SecretSwap[]> {
    return this.run('write re-encrypted secrets to', () =>
      this.db.transaction(() => this.secrets.swap(swaps)).immediate(),
    );
  }

  secretsByDataKey(): Promise<Map<string, number>> {
    return this.run('count the secrets of', () => this.secrets.byDataKey());
  }

  countSecretsUnder(dataKeyIds: readonly string[]): Promise<number> {
    return this.run('count the secrets of', () => this.secrets.countUnder(dataKeyIds));
  }

  targetColumns(target: TargetSpec): Promise<readonly string[] | undefined> {
    return this.run('read the columns of a target in', () => this.targets.columns(target));
  }

  countTargetRows(target: TargetSpec): Promise<number> {
    return this.run(`count the rows of ${target.table} in`, () => this.targets.count(target));
  }

  readTargetRows(target: TargetSpec, after: RowId | undefined, limit: number): Promise<TargetRow[]> {
    return this.run(`read ${target.spec} from`, () => this.targets.read(target, after ?? 0, limit));
  }

  rereadTargetRows(target: TargetSpec, ids: readonly RowId[]): Promise<TargetRow[]> {
    return this.run(`read ${target.spec} from`, () => this.targets.reread(target, ids));
  }

  swapTargetCells(target: TargetSpec, swaps: readonly TargetSwap[]): Promise<TargetSwap[]> {
    return this.run(`write ${target.spec} to`, () =>
      this.db.transaction(() => this.targets.swap(target, swaps)).immediate(),
    );
  }

  seals(): Promise<Map<string, string>> {
    return this.run('read atrest_seals in', () => {
      const rows = this.db.prepare('SELECT place, sealed_at FROM atrest_seals').all() as Seal[];
      return new Map(rows.map((r) => [r.place, r.sealed_at]));
    });
  }

  seal(place: string, at: string): Promise<void> {
    return this.run('write atrest_seals in', () => {
      this.db
        .prepare('INSERT INTO atrest_seals (place, sealed_at) VALUES (?, ?) ON CONFLICT DO NOTHING')
        .run(place, at);
    });
  }

  unseal(places?: readonly string[]): Promise<number> {
    return this.run('write atrest_seals in', () =>
      places === undefined
        ? this.db.prepare('DELETE FROM atrest_seals').run().changes
        : this.db
            .prepare('DELETE FROM atrest_seals WHERE place IN (SELECT value FROM json_each(?))')
            .run(JSON.stringify(places)).changes,
    );
  }

  getMeta(key: string): Promise<string | undefined> {
    return this.run('read atrest_meta in', () => (this.q.getMeta.get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.run('write atrest_meta in', () => {
      this.q.setMeta.run(key, value);
    });
  }

  claimMeta(key: string, value: string): Promise<string> {
    return this.run('write atrest_meta in', () =>
      this.db
        .transaction(() => {
          this.q.claimMeta.run(key, value);
          return (this.q.getMeta.get(key) as { value: string }).value;
        })
        .immediate(),
    );
  }

  acquireMigrationLock(holder: LockHolder): Promise<MigrationLock> {
    return this.run('take the migration lock in', () => acquireSqliteLock(this.db, holder));
  }

  clearMigrationLock(): Promise<LockClearing> {
    return this.run('clear the migration lock in', () => clearSqliteLock(this.db, hostname()));
  }

  scrubRewrites(): Promise<boolean> {
    return this.run('checkpoint the WAL of', () => checkpointWal(this.db));
  }

  vacuum(): Promise<VacuumOutcome> {
    return this.run('VACUUM', () => vacuumFile(this.db));
  }

  async close(): Promise<void> {
    if (this.owned && this.db.open) this.db.close();
  }
}
