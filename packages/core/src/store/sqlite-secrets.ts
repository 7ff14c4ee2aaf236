// atrest's secrets table in a SQLite database: names to values (binary envelopes or plain bytes),
// read in rowid order and rewritten by compare-and-swap, and counted by the data key each names.
import type Database from 'better-sqlite3';
import { DATA_KEY_ID_LENGTH, DATA_KEY_ID_OFFSET } from '../envelope/format.js';
import type { Db } from './sqlite-database.js';
import type { RowId, SecretRecord, SecretRow, SecretSummary, SecretSwap } from './types.js';

type SecretDbRow = { id: number; name: string; value: Buffer; encrypted: number };
const toRow = (r: SecretDbRow): SecretRow => ({ id: r.id, name: r.name, value: r.value, encrypted: r.encrypted === 1 });

/** SQL for the data key id that the envelope in `column` names (offsets from the format). */
function dataKeyIdOf(column: string): string {
  return `lower(hex(substr(${column}, ${DATA_KEY_ID_OFFSET + 1}, ${DATA_KEY_ID_LENGTH})))`;
}

export class SqliteSecrets {
  private readonly q: Record<'get' | 'put' | 'delete' | 'read' | 'reread' | 'swap', Database.Statement>;

  constructor(private readonly db: Db) {
    this.q = {
      get: db.prepare('SELECT * FROM atrest_secrets WHERE name = ?'),
      put: db.prepare(
        `INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at)
         VALUES (@name, @value, @encrypted, @now, @now)
         ON CONFLICT(name) DO UPDATE SET
           value = excluded.value, encrypted = excluded.encrypted, updated_at = excluded.updated_at`,
      ),
      delete: db.prepare('DELETE FROM atrest_secrets WHERE name = ?'),
      read: db.prepare(
        'SELECT rowid AS id, name, value, encrypted FROM atrest_secrets WHERE rowid > ? ORDER BY rowid LIMIT ?',
      ),
      reread: db.prepare(
        `SELECT rowid AS id, name, value, encrypted FROM atrest_secrets
         WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
      ),
      swap: db.prepare(
        'UPDATE atrest_secrets SET value = ?, encrypted = ? WHERE rowid = ? AND value = ? AND encrypted = ?',
      ),
    };
  }

  get(name: string): SecretRecord | undefined {
    const r = this.q.get.get(name) as
      | { name: string; value: Buffer; encrypted: number; created_at: string; updated_at: string }
      | undefined;
    if (r === undefined) return undefined;
    return {
      name: r.name,
      value: r.value,
      encrypted: r.encrypted === 1,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  put(name: string, value: Uint8Array, encrypted: boolean): void {
    this.q.put.run({ name, value, encrypted: encrypted ? 1 : 0, now: new Date().toISOString() });
  }

  delete(name: string): boolean {
    return this.q.delete.run(name).changes === 1;
  }

  list(): SecretSummary[] {
    const rows = this.db
      .prepare(
        'SELECT name, encrypted, length(value) AS size, created_at, updated_at FROM atrest_secrets ORDER BY name',
      )
      .all() as { name: string; encrypted: number; size: number; created_at: string; updated_at: string }[];
    return rows.map((r) => ({
      name: r.name,
      size: r.size,
      encrypted: r.encrypted === 1,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM atrest_secrets').get() as { n: number }).n;
  }

  read(after: RowId, limit: number): SecretRow[] {
    return (this.q.read.all(after, limit) as SecretDbRow[]).map(toRow);
  }

  reread(ids: readonly RowId[]): SecretRow[] {
    return (this.q.reread.all(JSON.stringify(ids)) as SecretDbRow[]).map(toRow);
  }

  /** The swaps that lost (call inside a transaction). */
  swap(swaps: readonly SecretSwap[]): SecretSwap[] {
    const enc = (b: boolean): number => (b ? 1 : 0);
    return swaps.filter(
      (s) => this.q.swap.run(s.value, enc(s.encrypted), s.row.id, s.row.value, enc(s.row.encrypted)).changes !== 1,
    );
  }

  byDataKey(): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT CASE WHEN encrypted = 0 THEN '' ELSE ${dataKeyIdOf('value')} END AS id, count(*) AS n
         FROM atrest_secrets GROUP BY 1`,
      )
      .all() as { id: string; n: number }[];
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  countUnder(dataKeyIds: readonly string[]): number {
    if (dataKeyIds.length === 0) return 0;
    const row = this.db
      .prepare(
        `SELECT count(*) AS n FROM atrest_secrets
         WHERE encrypted = 1 AND ${dataKeyIdOf('value')} IN (SELECT value FROM json_each(?))`,
      )
      .get(JSON.stringify(dataKeyIds)) as { n: number };
    return row.n;
  }
}
