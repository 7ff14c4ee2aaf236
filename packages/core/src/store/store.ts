// The SQLite store: atrest's tables through better-sqlite3 (WAL, busy timeout). All methods are
// synchronous and each write is its own short transaction, committed before anything uses it.
import Database from 'better-sqlite3';
import { AtrestError } from '../errors.js';
import { migrations, SCHEMA_VERSION } from './schema.js';

type Db = Database.Database;

/** A row of atrest_data_keys. */
export type DataKeyRow = {
  id: string;
  label: string;
  provider: string;
  key_ref: string;
  wrapped: Buffer;
  active: number;
  encryptions_reserved: number;
  created_at: string;
  updated_at: string;
  /** Set when encryption was turned off: the key is kept for stragglers but no longer counts. */
  dropped_at: string | null;
};

/** A row of atrest_secrets. */
export type SecretRow = { name: string; value: Buffer; encrypted: number; created_at: string; updated_at: string };

const BUSY_TIMEOUT_MS = 10_000;

/**
 * Data keys are committed on atrest's own connection, never inside the application's transaction.
 * When the application's open write transaction holds the lock, that cannot happen: say so.
 */
function busyExplained<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new AtrestError(
        'ATREST_STORE',
        `A data key could not be committed: another connection held the database's write lock for ${BUSY_TIMEOUT_MS / 1000} s. If it is the application's own open transaction, encrypt before writing in it (atrest commits its data keys on its own connection, never inside a caller's transaction).`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Open (or adopt) the database and bring atrest's tables to the current schema version. */
export function openDatabase(database: string | Db): { db: Db; owned: boolean } {
  let db: Db;
  let owned = false;
  if (typeof database === 'string') {
    try {
      db = new Database(database);
    } catch (cause) {
      throw new AtrestError(
        'ATREST_STORE',
        `Cannot open the database ${database}: ${(cause as Error).message}. Check the path and its permissions.`,
        {
          cause,
          details: { path: database },
        },
      );
    }
    owned = true;
  } else if (!database.memory && database.name) {
    // A separate connection to the same file: atrest's writes (data keys) then commit on their own,
    // never inside (and never rolled back with) a transaction the application has open.
    db = new Database(database.name, { fileMustExist: true });
    owned = true;
  } else {
    db = database;
  }
  if (owned) {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('synchronous = NORMAL');
  }
  migrate(db);
  return { db, owned };
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS atrest_schema (version INTEGER NOT NULL, applied_at TEXT NOT NULL)');
  const current = (db.prepare('SELECT max(version) AS v FROM atrest_schema').get() as { v: number | null }).v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new AtrestError(
      'ATREST_SCHEMA_TOO_NEW',
      `The database holds atrest schema version ${current}, newer than this atrest knows (${SCHEMA_VERSION}). Upgrade atrest; never run an older version on this database.`,
      { details: { found: current, known: SCHEMA_VERSION } },
    );
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read inside the write transaction: another process may have migrated meanwhile.
    const v = (db.prepare('SELECT max(version) AS v FROM atrest_schema').get() as { v: number | null }).v ?? 0;
    for (let i = v; i < SCHEMA_VERSION; i++) {
      db.exec(migrations[i] ?? '');
      db.prepare('INSERT INTO atrest_schema (version, applied_at) VALUES (?, ?)').run(i + 1, new Date().toISOString());
    }
  }).immediate();
}

/** Typed access to atrest's tables. */
export class Store {
  readonly db: Db;
  private readonly owned: boolean;
  private readonly q;

  constructor(database: string | Db) {
    const { db, owned } = openDatabase(database);
    this.db = db;
    this.owned = owned;
    this.q = {
      activeKey: db.prepare('SELECT * FROM atrest_data_keys WHERE label = ? AND provider = ? AND active = 1'),
      keyById: db.prepare('SELECT * FROM atrest_data_keys WHERE id = ?'),
      insertKey: db.prepare(
        `INSERT INTO atrest_data_keys (id, label, provider, key_ref, wrapped, active, encryptions_reserved, created_at, updated_at)
         VALUES (@id, @label, @provider, @key_ref, @wrapped, 1, @encryptions_reserved, @created_at, @created_at)
         ON CONFLICT DO NOTHING`,
      ),
      reserve: db.prepare(
        `UPDATE atrest_data_keys SET encryptions_reserved = encryptions_reserved + @n, updated_at = @now
         WHERE id = @id AND active = 1 AND encryptions_reserved + @n <= @cap`,
      ),
      retire: db.prepare('UPDATE atrest_data_keys SET active = 0, updated_at = ? WHERE id = ? AND active = 1'),
      getSecret: db.prepare('SELECT * FROM atrest_secrets WHERE name = ?'),
      putSecret: db.prepare(
        `INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at) VALUES (@name, @value, @encrypted, @now, @now)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value, encrypted = excluded.encrypted, updated_at = excluded.updated_at`,
      ),
      deleteSecret: db.prepare('DELETE FROM atrest_secrets WHERE name = ?'),
      listSecrets: db.prepare(
        'SELECT name, encrypted, length(value) AS size, created_at, updated_at FROM atrest_secrets ORDER BY name',
      ),
      getMeta: db.prepare('SELECT value FROM atrest_meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO atrest_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      deleteMeta: db.prepare('DELETE FROM atrest_meta WHERE key = ?'),
    };
  }

  activeDataKey(label: string, provider: string): DataKeyRow | undefined {
    return this.q.activeKey.get(label, provider) as DataKeyRow | undefined;
  }

  dataKey(id: string): DataKeyRow | undefined {
    return this.q.keyById.get(id) as DataKeyRow | undefined;
  }

  /**
   * Insert a new active data key unless another process made one for the label first; returns the
   * row that is active now (ours or the winner's). Committed when it returns.
   */
  insertActiveDataKey(row: Omit<DataKeyRow, 'active' | 'updated_at' | 'dropped_at'>): DataKeyRow {
    if (this.db.inTransaction) {
      throw new AtrestError(
        'ATREST_STORE',
        'A new data key cannot be created inside an open transaction on an in-memory database: encrypt once before BEGIN, or give atrest a database file.',
      );
    }
    return busyExplained(() =>
      this.db
        .transaction(() => {
          this.q.insertKey.run(row);
          const active = this.activeDataKey(row.label, row.provider);
          if (!active) throw new AtrestError('ATREST_STORE', `No active data key for label ${row.label} after insert.`);
          return active;
        })
        .immediate(),
    );
  }

  /** Reserve `n` encryptions under an active data key; false when that would pass `cap` or the key was retired. */
  reserveEncryptions(id: string, n: number, cap: number): boolean {
    return busyExplained(() => this.q.reserve.run({ id, n, cap, now: new Date().toISOString() }).changes === 1);
  }

  retireDataKey(id: string): boolean {
    return this.q.retire.run(new Date().toISOString(), id).changes === 1;
  }

  dataKeys(): DataKeyRow[] {
    return this.db.prepare('SELECT * FROM atrest_data_keys ORDER BY created_at, id').all() as DataKeyRow[];
  }

  /** Data keys that count (not dropped when encryption was turned off), of one provider or all. */
  countDataKeys(provider?: string): number {
    const row = (
      provider === undefined
        ? this.db.prepare('SELECT count(*) AS n FROM atrest_data_keys WHERE dropped_at IS NULL').get()
        : this.db
            .prepare('SELECT count(*) AS n FROM atrest_data_keys WHERE provider = ? AND dropped_at IS NULL')
            .get(provider)
    ) as { n: number };
    return row.n;
  }

  getSecret(name: string): SecretRow | undefined {
    return this.q.getSecret.get(name) as SecretRow | undefined;
  }

  putSecret(name: string, value: Uint8Array, encrypted: boolean): void {
    this.q.putSecret.run({ name, value, encrypted: encrypted ? 1 : 0, now: new Date().toISOString() });
  }

  deleteSecret(name: string): boolean {
    return this.q.deleteSecret.run(name).changes === 1;
  }

  listSecrets(): { name: string; encrypted: number; size: number; created_at: string; updated_at: string }[] {
    return this.q.listSecrets.all() as {
      name: string;
      encrypted: number;
      size: number;
      created_at: string;
      updated_at: string;
    }[];
  }

  /** Encrypted secrets per provider id (by their data key), plus plaintext ones under ''. */
  secretsByProvider(): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT CASE WHEN s.encrypted = 0 THEN '' ELSE coalesce(k.provider, '?') END AS provider, count(*) AS n
         FROM atrest_secrets s LEFT JOIN atrest_data_keys k ON s.encrypted = 1 AND k.id = lower(hex(substr(s.value, 5, 16)))
         GROUP BY 1`,
      )
      .all() as { provider: string; n: number }[];
    return new Map(rows.map((r) => [r.provider, r.n]));
  }

  /** How many encrypted secrets use data keys of the given ids. */
  countSecretsUnder(dataKeyIds: readonly string[]): number {
    if (dataKeyIds.length === 0) return 0;
    const ids = JSON.stringify(dataKeyIds);
    const row = this.db
      .prepare(
        'SELECT count(*) AS n FROM atrest_secrets WHERE encrypted = 1 AND lower(hex(substr(value, 5, 16))) IN (SELECT value FROM json_each(?))',
      )
      .get(ids) as { n: number };
    return row.n;
  }

  getMeta(key: string): string | undefined {
    return (this.q.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.q.setMeta.run(key, value);
  }

  deleteMeta(key: string): void {
    this.q.deleteMeta.run(key);
  }

  close(): void {
    if (this.owned && this.db.open) this.db.close();
  }
}
