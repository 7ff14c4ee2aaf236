// A SQLite application database opened for atrest: its own connection (WAL, busy timeout), atrest's
// tables brought to STORE_SCHEMA_VERSION, and SQLite's failures turned into catalogue errors.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { errors, isAtrestError } from '../errors.js';
import type { AtrestError } from '../errors.js';
import { sqliteMigrations } from './sqlite-schema.js';
import { STORE_SCHEMA_VERSION } from './types.js';
import type { StoreOpenOptions, VacuumOutcome } from './types.js';

export type Db = Database.Database;

const BUSY_TIMEOUT_MS = 10_000;

const FIRST_START = "atrest creates it on first start only: the application's, 'atrest init', or a first write.";

/**
 * Open `database` (a path, or the application's own handle) and bring atrest's tables up to date
 * (`create` false: they must exist). `owned`: the connection is atrest's, closed with the store.
 */
export function openSqliteDatabase(database: string | Db, options: StoreOpenOptions): { db: Db; owned: boolean } {
  let db: Db;
  if (typeof database === 'string') {
    if (!options.create && (database === ':memory:' || database === '' || !existsSync(database))) {
      throw errors.notInitialized(
        `The database ${database} does not exist.`,
        `Check the database path (--db, [database] path); ${FIRST_START}`,
        { details: { path: database, missing: 'database' } },
      );
    }
    try {
      db = new Database(database, { fileMustExist: !options.create });
    } catch (cause) {
      const advice = cause instanceof Database.SqliteError ? sqliteAdvice(cause.code, database) : undefined;
      if (advice !== undefined) {
        throw errors.store(`Cannot open the database ${database}: ${advice.problem}.`, advice.fix, {
          cause,
          details: { path: database },
        });
      }
      throw errors.store(
        `Cannot open the database ${database}: ${(cause as Error).message}.`,
        'Check the path and its permissions.',
        { cause, details: { path: database } },
      );
    }
  } else if (!database.memory && database.name) {
    // A separate connection to the same file: atrest's writes (data keys) then commit on their own,
    // never inside (and never rolled back with) a transaction the application has open.
    db = new Database(database.name, { fileMustExist: true });
  } else {
    db = database;
  }
  const owned = db !== database;
  try {
    if (owned) {
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('synchronous = NORMAL');
      // What atrest deletes or rewrites (legacy plaintext that re-encrypt replaced) is overwritten
      // with zeros in the page, not left in free space.
      db.pragma('secure_delete = ON');
    }
    upgradeSchema(db, options.create);
    checkTables(db);
  } catch (err) {
    if (owned) db.close();
    throw sqliteFailure(err, 'open', db);
  }
  return { db, owned };
}

/** The schema version recorded in the database (0: none of atrest's tables yet). */
export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT max(version) AS v FROM atrest_schema').get() as { v: number | null };
  return row.v ?? 0;
}

function upgradeSchema(db: Db, create: boolean): void {
  if (create) {
    db.exec('CREATE TABLE IF NOT EXISTS atrest_schema (version INTEGER NOT NULL, applied_at TEXT NOT NULL)');
  } else if (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'atrest_schema'").get() === undefined
  ) {
    const path = db.memory ? ':memory:' : db.name;
    throw errors.notInitialized(
      `The database ${path} has no atrest tables: atrest was never started on it.`,
      `Check the database path (--db, [database] path); ${FIRST_START.replace('it', 'them')}`,
      { details: { path, missing: 'tables' } },
    );
  }
  const current = schemaVersion(db);
  if (current > STORE_SCHEMA_VERSION) throw errors.schemaTooNew(current, STORE_SCHEMA_VERSION);
  if (current === STORE_SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read inside the write transaction: another process may have upgraded meanwhile.
    const insert = db.prepare('INSERT INTO atrest_schema (version, applied_at) VALUES (?, ?)');
    for (let v = schemaVersion(db); v < STORE_SCHEMA_VERSION; v++) {
      db.exec(sqliteMigrations[v] ?? '');
      insert.run(v + 1, new Date().toISOString());
    }
  }).immediate();
}

/** atrest's tables and their columns at STORE_SCHEMA_VERSION, as the migrations make them. */
let expectedTables: ReadonlyMap<string, readonly string[]> | undefined;

function tablesOf(db: Db): Map<string, string[]> {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'atrest\\_%' ESCAPE '\\'")
    .all();
  return new Map(
    (names as { name: string }[]).map(({ name }) => [
      name,
      (db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name),
    ]),
  );
}

/** Every table and column of atrest's schema is there: one dropped or renamed by hand is said, not a crash later. */
function checkTables(db: Db): void {
  if (expectedTables === undefined) {
    const fresh = new Database(':memory:');
    for (const step of sqliteMigrations) fresh.exec(step);
    expectedTables = tablesOf(fresh);
    fresh.close();
  }
  const found = tablesOf(db);
  const path = db.memory ? ':memory:' : db.name;
  for (const [table, columns] of expectedTables) {
    const have = found.get(table);
    const missing = have === undefined ? [] : columns.filter((c) => !have.includes(c));
    if (have !== undefined && missing.length === 0) continue;
    const what =
      have === undefined
        ? `its table ${table}`
        : `the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${table}`;
    throw errors.store(
      `The database ${path} records atrest schema version ${schemaVersion(db)} but lacks ${what}: ` +
        'it was dropped or changed outside atrest. Nothing was read or written.',
      'Restore the database from a backup; atrest does not re-create a table that held keys or secrets.',
      { details: { path, table, missing: have === undefined ? [table] : missing } },
    );
  }
}

/** What to say about SQLite's result code `code`: the problem, and what to do. */
function sqliteAdvice(code: string, path: string): { problem: string; fix: string } | undefined {
  if (code === 'SQLITE_NOTADB') {
    return {
      problem: `${path} is not a SQLite database`,
      fix:
        'Check that --db or [database] path names the application database; restore it from a backup if it ' +
        'was overwritten. Nothing was written to it.',
    };
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return {
      problem: `the database ${path} is damaged (truncated or overwritten in part)`,
      fix: 'Restore it from a backup (or recover it with sqlite3 .recover); nothing was written to it.',
    };
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return {
      problem:
        `the database ${path} cannot be written by this user ` +
        '(the file, its directory or the file system is read-only)',
      fix:
        'Run as the database owner, or allow writing to the file and its directory ' +
        '(SQLite writes -wal and -shm files beside it). Nothing was changed.',
    };
  }
  if (
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR_WRITE' ||
    code === 'SQLITE_IOERR_FSYNC' ||
    code === 'SQLITE_IOERR'
  ) {
    return {
      problem: `the database ${path} could not be written: the disk is full or the file may not grow`,
      fix:
        'Free space on its file system (or raise the file size limit) and run it again; ' +
        'the transaction was rolled back, nothing was lost.',
    };
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return {
      problem: `the database ${path} cannot be opened`,
      fix: 'Check that the path and its directory exist and are readable by this user.',
    };
  }
  return undefined;
}

/**
 * What SQLite threw while atrest tried to `what` the database `db`, as a catalogue error. A write
 * lock held past the busy timeout is explained: data keys commit on atrest's own connection, so the
 * application's own open write transaction cannot be waited out.
 */
export function sqliteFailure(err: unknown, what: string, db: Db): AtrestError {
  if (isAtrestError(err)) return err;
  if (!(err instanceof Database.SqliteError)) return errors.internal(`SQLite store: ${String(err)}`, { cause: err });
  const path = db.memory ? ':memory:' : db.name;
  const details = { sqlite: err.code, path };
  if (err.code === 'SQLITE_BUSY') {
    return errors.store(
      `atrest could not ${what} the database ${path}: another connection held its write lock for ` +
        `${BUSY_TIMEOUT_MS / 1000} s.`,
      "If it is the application's own open transaction, encrypt before writing in it (atrest commits its " +
        "data keys on its own connection, never inside a caller's transaction).",
      { cause: err, details },
    );
  }
  const advice = sqliteAdvice(err.code, path);
  if (advice !== undefined) {
    return errors.store(`atrest could not ${what} the database ${path}: ${advice.problem} (${err.code}).`, advice.fix, {
      cause: err,
      details,
    });
  }
  return errors.store(
    `atrest could not ${what} the database ${path}: ${err.message} (${err.code}).`,
    'Check the disk, the file and its permissions.',
    { cause: err, details },
  );
}

/**
 * After a migration rewrote values: copy the WAL into the database and truncate it, so the old page
 * images (legacy plaintext among them) leave the -wal file. Returns false when another connection's
 * open read kept the checkpoint from completing (the WAL is then reset by a later checkpoint).
 */
export function checkpointWal(db: Db): boolean {
  const [row] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  return row?.busy === 0;
}

/**
 * The application's tables whose rowids VACUUM renumbers. SQLite documents that it may for a rowid
 * table without an INTEGER PRIMARY KEY; its source (insert.c, the transfer VACUUM copies with) keeps
 * each rowid when the table has an INTEGER PRIMARY KEY or any index, and numbers rows anew only in a
 * table with neither (test/vacuum.test.ts checks it on the bundled SQLite). Without an index, an
 * INTEGER PRIMARY KEY is a column with pk > 0. SQLite's own, WITHOUT ROWID and virtual tables are
 * not among them, nor atrest's (all indexed, and atrest keeps no rowid between runs).
 */
function renumberedByVacuum(db: Db): string[] {
  const tables = db
    .prepare(
      `SELECT t.name FROM pragma_table_list AS t JOIN sqlite_schema AS s ON s.name = t.name AND s.type = 'table'
       WHERE t.schema = 'main' AND t.type = 'table' AND t.wr = 0
         AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND t.name NOT LIKE 'atrest\\_%' ESCAPE '\\'
         AND s.sql NOT LIKE 'CREATE VIRTUAL%'`,
    )
    .pluck()
    .all() as string[];
  const pkColumns = db.prepare('SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0').pluck();
  const indexes = db.prepare('SELECT count(*) FROM pragma_index_list(?)').pluck();
  return tables.filter((t) => pkColumns.get(t) === 0 && indexes.get(t) === 0);
}

/**
 * Rebuild the database file (VACUUM) so that no old copy of a value is left in free pages or in the
 * unused part of a page, where the application's connection (without secure_delete) left them.
 * Refused, not done, while a table would get new rowids; a failure (no space for the copy, a
 * transaction open on the connection) is reported with what to do: what was committed stays.
 */
export function vacuumFile(db: Db): VacuumOutcome {
  if (db.memory) return { vacuumed: false, reason: 'an in-memory database has no file' };
  const renumbered = renumberedByVacuum(db);
  if (renumbered.length > 0) {
    return {
      vacuumed: false,
      reason:
        `VACUUM would give new rowids to ${renumbered.join(', ')} (no INTEGER PRIMARY KEY, no index): ` +
        'if nothing relies on those rowids (or once the table has an index), stop the application and run ' +
        `sqlite3 ${db.name} 'VACUUM'`,
    };
  }
  try {
    db.exec('VACUUM');
  } catch (err) {
    const code = err instanceof Database.SqliteError ? err.code : 'unknown';
    const first =
      code === 'SQLITE_BUSY'
        ? 'Another connection held the write lock'
        : 'Free disk space the size of the file (beside it and in the temporary directory)';
    throw errors.store(
      `The values were re-encrypted and committed, but the VACUUM that takes their old plaintext out of the ` +
        `free space of ${db.name} failed: ${(err as Error).message} (${code}).`,
      `${first}; ` +
        `then, with the application stopped, run sqlite3 ${db.name} 'VACUUM' (the database itself is consistent).`,
      { cause: err, details: { path: db.name, sqlite: code, step: 'vacuum' } },
    );
  }
  return { vacuumed: true };
}
