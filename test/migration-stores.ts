// The stores the shared migration fixture runs on: SQLite files (copied as files) and databases on
// one real PostgreSQL server per test file (copied with CREATE DATABASE … TEMPLATE). Both take the
// same SQL: `?` placeholders (numbered for PostgreSQL here), TRUE/FALSE and CAST, which SQLite and
// PostgreSQL both read; only the JSON column's type differs (TEXT, jsonb).
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { TestPostgres } from '@atrest/testkit';

/** Where a fixture's application database lives; `db` is a file path (SQLite) or a database name (PostgreSQL). */
export type FixtureStore = {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** The SQL type of the target's JSON column. */
  readonly jsonType: string;
  /** A new empty database for a fixture in `dir`. */
  create(dir: string): Promise<string>;
  /** A copy of database `db` (nothing may be connected to it) for a fixture in `dir`. */
  copy(db: string, dir: string): Promise<string>;
  /** The `[database]` lines of the fixture's INI file. */
  iniLines(db: string): string[];
  /** How another process reaches database `db`: the SQLite file's path, or a postgres:// URL. */
  address(db: string): string;
  /** The same database as environment variables of an application whose prefix is `prefix` (`MYAPP_`). */
  envVars(prefix: string, db: string): Record<string, string>;
  /** Run one statement or query; rows as objects. */
  query<T>(db: string, sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Run one statement once per parameter list, in one transaction. */
  insertAll(db: string, sql: string, rows: readonly (readonly unknown[])[]): Promise<void>;
};

export const sqliteStore: FixtureStore = {
  name: 'SQLite',
  jsonType: 'TEXT',
  async create(dir) {
    const file = join(dir, 'app.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.close();
    return file;
  },
  async copy(from, dir) {
    const file = join(dir, 'app.db');
    copyFileSync(from, file);
    for (const suffix of ['-wal', '-shm']) if (existsSync(from + suffix)) copyFileSync(from + suffix, file + suffix);
    return file;
  },
  iniLines: (file) => ['type = sqlite3', `path = ${file}`],
  address: (file) => file,
  envVars: (prefix, file) => ({ [`${prefix}DATABASE_PATH`]: file }),
  async query<T>(file: string, sql: string, params: readonly unknown[] = []) {
    const db = new Database(file);
    try {
      const statement = db.prepare(sql);
      if (statement.reader) return statement.all(...params) as T[];
      statement.run(...params);
      return [];
    } finally {
      db.close();
    }
  },
  async insertAll(file, sql, rows) {
    const db = new Database(file);
    try {
      const insert = db.prepare(sql);
      db.transaction(() => {
        for (const r of rows) insert.run(...r);
      })();
    } finally {
      db.close();
    }
  },
};

/** `?` placeholders as PostgreSQL's `$1`, `$2`… (the fixture's SQL has no `?` in its literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replaceAll('?', () => `$${++n}`);
}

/** Databases on `server` (started by the test file, one per file). */
export function postgresStore(server: TestPostgres): FixtureStore {
  const withClient = async <T>(db: string, use: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: server.url(db) });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  };
  return {
    name: 'PostgreSQL',
    jsonType: 'jsonb',
    create: () => server.createDatabase(),
    async copy(from) {
      const name = `db_copy_${Math.random().toString(16).slice(2, 14)}`;
      // A session that has just ended may still be leaving the template: retry while it does.
      for (let attempt = 1; ; attempt++) {
        try {
          await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${from}"`));
          return name;
        } catch (err) {
          if (attempt >= 40 || !/being accessed by other users/.test((err as Error).message)) throw err;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    // The test server's password sits in the INI of a temporary directory, as an appliance's would.
    iniLines: (db) => [
      'type = postgres',
      `host = 127.0.0.1:${server.port}`,
      `name = ${db}`,
      `user = ${server.user}`,
      `password = ${server.password}`,
      'ssl_mode = disable',
    ],
    query: <T>(db: string, sql: string, params: readonly unknown[] = []) =>
      withClient(db, async (c) => (await c.query(numbered(sql), [...params])).rows as T[]),
    address: (db) => server.url(db),
    envVars: (prefix, db) => ({ [`${prefix}DATABASE_URL`]: server.url(db) }),
    // `INSERT … VALUES (?, …)` runs as one statement per 500 rows (one round trip each, not one per row).
    insertAll: (db, sql, rows) =>
      withClient(db, async (c) => {
        const values = /VALUES\s*(\([?,\s]*\))\s*$/i.exec(sql);
        const chunk = values === null ? 1 : 500;
        await c.query('BEGIN');
        for (let at = 0; at < rows.length; at += chunk) {
          const part = rows.slice(at, at + chunk);
          const text =
            values === null ? sql : sql.slice(0, values.index) + `VALUES ${part.map(() => values[1]).join(', ')}`;
          await c.query(numbered(text), part.flat());
        }
        await c.query('COMMIT');
      }),
  };
}
