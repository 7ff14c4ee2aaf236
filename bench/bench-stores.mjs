// The stores the benchmarks run on, each giving what they need of it: atrest's options for it, a
// fast way to fill atrest's secrets table with ciphertexts atrest made, and the bare batched loop
// (keyset-paged read, one compare-and-swap transaction per batch, the caller's transform) that the
// re-encrypt figures are compared with. SQLite: files in the benchmark's directory. PostgreSQL: a
// server of its own (startPostgres, as the tests start one) or the one `--db URL` names; the
// benchmark's tables are made in a fresh database, dropped at the end.
import { join } from 'node:path';
import Database from 'better-sqlite3';

const NOW = '2026-01-01T00:00:00.000Z';

/** SQLite files in `dir`. */
export function sqliteStore(dir) {
  const file = join(dir, 'atrest.db');
  return {
    name: 'sqlite',
    database: file,
    async fillSecrets(names, values) {
      const db = new Database(file);
      const put = db.prepare(
        'INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at) VALUES (?, ?, 1, ?, ?)',
      );
      db.transaction(() => {
        for (let i = 0; i < names.length; i++) put.run(names[i], values[i], NOW, NOW);
      })();
      db.close();
    },
    async bareLoop(name, seed, transform, batch) {
      const db = new Database(join(dir, `${name}.db`));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // The columns of atrest's secrets table; paged by rowid, as atrest's SQLite store pages it.
      db.exec(
        'CREATE TABLE bench (name TEXT PRIMARY KEY, value BLOB NOT NULL, encrypted INTEGER NOT NULL, ' +
          'created_at TEXT NOT NULL, updated_at TEXT NOT NULL) STRICT',
      );
      const ins = db.prepare('INSERT INTO bench VALUES (?, ?, 1, ?, ?)');
      db.transaction(() => {
        for (const [i, v] of seed.entries()) ins.run(`bench/${i}`, v, NOW, NOW);
      })();
      const read = db.prepare('SELECT rowid AS id, value FROM bench WHERE rowid > ? ORDER BY rowid LIMIT ?');
      const swap = db.prepare('UPDATE bench SET value = ? WHERE rowid = ? AND value = ?');
      const start = process.hrtime.bigint();
      let n = 0;
      for (let after = 0; ; ) {
        const got = read.all(after, batch);
        if (got.length === 0) break;
        after = got[got.length - 1].id;
        const next = got.map((r) => transform(r.value));
        db.transaction(() => {
          for (let i = 0; i < got.length; i++) n += swap.run(next[i], got[i].id, got[i].value).changes;
        })();
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      db.close();
      if (n !== seed.length) throw new Error(`the ${name} loop updated ${n} of ${seed.length} rows`);
      return n / seconds;
    },
    async close() {},
  };
}

/** A fresh database on the server `url` names, or on a server started here. */
export async function postgresStore(url) {
  // Imported here: the SQLite benchmark needs neither.
  const { default: pg } = await import('pg');
  const { startPostgres } = await import('@atrest/testkit');
  const server = url === undefined ? await startPostgres() : undefined;
  const admin = new pg.Pool({ connectionString: url ?? server.url(), max: 1 });
  // An idle connection the server ends (the database dropped, the server stopped while a closing
  // connection still waits for its goodbye) raises 'error' on its pool: without a listener it ends the
  // benchmark after its figures (57P01, "terminating connection due to administrator command").
  const ignoreIdleError = () => undefined;
  admin.on('error', ignoreIdleError);
  const dbName = `atrest_bench_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(url ?? server.url());
  dbUrl.pathname = `/${dbName}`;
  const pool = new pg.Pool({ connectionString: dbUrl.href, max: 2 });
  pool.on('error', ignoreIdleError);
  /** Rows in one INSERT of the fill: 10,000 per statement keeps the parameters of unnest small. */
  const insertChunks = async (sql, columns) => {
    for (let at = 0; at < columns[0].length; at += 10_000) {
      await pool.query(
        sql,
        columns.map((c) => c.slice(at, at + 10_000)),
      );
    }
  };
  return {
    name: 'postgres',
    database: dbUrl.href,
    async fillSecrets(names, values) {
      await insertChunks(
        `INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at)
         SELECT n, v, true, '${NOW}', '${NOW}' FROM unnest($1::text[], $2::bytea[]) AS x(n, v)`,
        [names, values],
      );
      await pool.query('VACUUM ANALYZE atrest_secrets');
    },
    async bareLoop(name, seed, transform, batch) {
      // The columns and indexes of atrest's secrets table, paged by its id as atrest's store pages it.
      await pool.query(
        `CREATE TABLE ${name} (id bigint GENERATED ALWAYS AS IDENTITY UNIQUE, name text PRIMARY KEY,
           value bytea NOT NULL, encrypted boolean NOT NULL, created_at text NOT NULL, updated_at text NOT NULL)`,
      );
      await insertChunks(
        `INSERT INTO ${name} (name, value, encrypted, created_at, updated_at)
         SELECT n, v, true, '${NOW}', '${NOW}' FROM unnest($1::text[], $2::bytea[]) AS x(n, v)`,
        [seed.map((_, i) => `bench/${i}`), seed],
      );
      await pool.query(`VACUUM ANALYZE ${name}`);
      const start = process.hrtime.bigint();
      let n = 0;
      for (let after = 0; ; ) {
        const { rows } = await pool.query(`SELECT id, value FROM ${name} WHERE id > $1 ORDER BY id LIMIT $2`, [
          after,
          batch,
        ]);
        if (rows.length === 0) break;
        after = rows[rows.length - 1].id;
        const next = rows.map((r) => transform(r.value));
        // One statement per batch: atomic, each row compared with what was read, as atrest's store does.
        const r = await pool.query(
          `UPDATE ${name} t SET value = v.value FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS v(id, value, old)
           WHERE t.id = v.id AND t.value = v.old`,
          [rows.map((r) => r.id), next, rows.map((r) => r.value)],
        );
        n += r.rowCount;
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (n !== seed.length) throw new Error(`the ${name} loop updated ${n} of ${seed.length} rows`);
      return n / seconds;
    },
    async close() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
      await server?.stop();
    },
  };
}
