// A host application that keeps writing while a migration runs: it updates target rows (TEXT and
// JSON columns, sometimes as legacy plaintext), sets secrets, inserts and deletes rows, through its
// own connection (a SQLite handle, or a pg.Pool) shared with openAtrest, until its stdin closes.
// Then it prints, as JSON on stdout, the last value it wrote to every key, so the test can check
// that none of its writes was lost.
// Usage: node migration-app-writer.js CONFIG_FILE DATABASE ROWS SECRETS (a SQLite path or a postgres:// URL)
import Database from 'better-sqlite3';
import pg from 'pg';
import { openAtrest } from '@atrest/core';
import { JSON_TARGET, PASSWORD_TARGET, secretName } from './migration-fixture.js';
import { numbered } from './migration-stores.js';
import { repoRoot } from './helpers.js';

/** What the writer reports when it stops. */
export type WriterReport = {
  ops: number;
  passwords: Record<string, string | null>;
  json: Record<string, Record<string, unknown>>;
  secrets: Record<string, string>;
  inserted: number[];
  deleted: number[];
};

const [configFile = '', address = '', rowsArg = '0', secretsArg = '0'] = process.argv.slice(2);
const rows = Number(rowsArg);
const secrets = Number(secretsArg);

/** The application's connection and how it runs one statement. */
function connect(): {
  handle: pg.Pool | Database.Database;
  run(sql: string, params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
} {
  if (address.startsWith('postgres://')) {
    const pool = new pg.Pool({ connectionString: address, max: 2 });
    return { handle: pool, run: (sql, params) => pool.query(numbered(sql), params), close: () => pool.end() };
  }
  const db = new Database(address);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 10000');
  return {
    handle: db,
    run: async (sql, params) => db.prepare(sql).run(...params),
    close: async () => void db.close(),
  };
}
const db = connect();
const atrest = await openAtrest({ configFile, database: db.handle, env: process.env, appRoot: repoRoot });

const report: WriterReport = { ops: 0, passwords: {}, json: {}, secrets: {}, inserted: [], deleted: [] };
let stop = false;
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => {
  stop = true;
});

const deleted = new Set<number>();
let nextId = rows + 1;

/** Half the writes go to a few hot rows, so the migration's compare-and-swap meets them often. */
function pick(n: number): number {
  return Math.random() < 0.5 ? 1 + Math.floor(Math.random() * Math.min(40, n)) : 1 + Math.floor(Math.random() * n);
}

async function jsonFor(id: number, seq: number): Promise<{ stored: string; plain: Record<string, unknown> }> {
  const plain: Record<string, unknown> = {
    user: `app-user-${id}-${seq}`,
    token: `app-token-${id}-${seq}`,
    port: seq,
    tls: { verify: seq % 2 === 0 },
    note: '',
  };
  const stored: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(plain)) {
    stored[field] =
      typeof value === 'string' && value !== ''
        ? await atrest.encryptText(value, { target: JSON_TARGET, field })
        : value;
  }
  return { stored: JSON.stringify(stored), plain };
}

while (!stop) {
  const seq = ++report.ops;
  const op = Math.random();
  if (op < 0.35) {
    const id = pick(rows);
    if (!deleted.has(id)) {
      const value = `app-pw-${id}-${seq}`;
      // Now and then a plaintext write, as an older version of the application would do.
      const stored = seq % 10 === 0 ? value : await atrest.encryptText(value, { target: PASSWORD_TARGET });
      await db.run('UPDATE datasources SET password = ? WHERE id = ?', [stored, id]);
      report.passwords[id] = value;
    }
  } else if (op < 0.6) {
    const id = pick(rows);
    if (!deleted.has(id)) {
      const { stored, plain } = await jsonFor(id, seq);
      await db.run('UPDATE datasources SET json_data = ? WHERE id = ?', [stored, id]);
      report.json[id] = plain;
    }
  } else if (op < 0.95) {
    const i = pick(secrets) - 1;
    const value = `app-secret-${i}-${seq}`;
    await atrest.secrets.set(secretName(i), value);
    report.secrets[i] = value;
  } else if (op < 0.98) {
    const id = nextId++;
    const value = `app-new-${id}`;
    const { stored, plain } = await jsonFor(id, seq);
    await db.run('INSERT INTO datasources (id, name, password, json_data) VALUES (?, ?, ?, ?)', [
      id,
      `new-${id}`,
      await atrest.encryptText(value, { target: PASSWORD_TARGET }),
      stored,
    ]);
    report.passwords[id] = value;
    report.json[id] = plain;
    report.inserted.push(id);
  } else {
    const id = 41 + Math.floor(Math.random() * (rows - 40));
    if (!deleted.has(id)) {
      await db.run('DELETE FROM datasources WHERE id = ?', [id]);
      deleted.add(id);
      report.deleted.push(id);
    }
  }
  if (seq === 50) process.stderr.write('ready\n');
  // Let the event loop breathe (stdin end) without slowing the writes much.
  if (seq % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
}

await atrest.close();
await db.close();
process.stdout.write(JSON.stringify(report));
