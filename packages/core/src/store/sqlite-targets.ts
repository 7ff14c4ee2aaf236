// The application's registered targets in a SQLite database: its own tables, read in rowid order
// and written by compare-and-swap. Names come from the configuration, which allows identifiers only;
// they are quoted all the same. Statements are prepared once per target.
import type Database from 'better-sqlite3';
import type { TargetSpec } from '../config/types.js';
import type { Db } from './sqlite-database.js';
import type { RowId, TargetRow, TargetSwap } from './types.js';

type Statements = {
  count: Database.Statement;
  read: Database.Statement;
  reread: Database.Statement;
  swap: Database.Statement;
};

type CellRow = { id: number; cell: unknown; rowKey?: string | null };
const toRow = (r: CellRow): TargetRow => {
  const cell = typeof r.cell === 'string' ? r.cell : null;
  return r.rowKey === undefined ? { id: r.id, cell } : { id: r.id, cell, rowKey: r.rowKey };
};

export class SqliteTargets {
  private readonly statements = new Map<string, Statements>();

  constructor(private readonly db: Db) {}

  columns(target: TargetSpec): readonly string[] | undefined {
    const cols = this.db.prepare('SELECT name FROM pragma_table_info(?)').all(target.table) as { name: string }[];
    return cols.length === 0 ? undefined : cols.map((c) => c.name);
  }

  count(target: TargetSpec): number {
    return (this.of(target).count.get() as { n: number }).n;
  }

  read(target: TargetSpec, after: RowId, limit: number): TargetRow[] {
    return (this.of(target).read.all(after, limit) as CellRow[]).map(toRow);
  }

  reread(target: TargetSpec, ids: readonly RowId[]): TargetRow[] {
    return (this.of(target).reread.all(JSON.stringify(ids)) as CellRow[]).map(toRow);
  }

  /** The swaps that lost (call inside a transaction). */
  swap(target: TargetSpec, swaps: readonly TargetSwap[]): TargetSwap[] {
    const statement = this.of(target).swap;
    const run = (s: TargetSwap) =>
      target.rowKey === undefined
        ? statement.run(s.cell, s.row.id, s.row.cell)
        : statement.run(s.cell, s.row.id, s.row.cell, s.row.rowKey ?? null);
    return swaps.filter((s) => run(s).changes !== 1);
  }

  private of(target: TargetSpec): Statements {
    let s = this.statements.get(target.spec);
    if (s === undefined) {
      const table = `"${target.table}"`;
      const column = `"${target.column}"`;
      // A row-bound target reads the row key with the cell, and a swap also checks it is unchanged:
      // a value encrypted for one key is never written to a row whose key changed meanwhile.
      const rowKey = target.rowKey === undefined ? undefined : `CAST("${target.rowKey}" AS TEXT)`;
      const select = `SELECT rowid AS id, ${column} AS cell${rowKey === undefined ? '' : `, ${rowKey} AS rowKey`}`;
      s = {
        count: this.db.prepare(`SELECT count(*) AS n FROM ${table}`),
        read: this.db.prepare(`${select} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`),
        reread: this.db.prepare(
          `${select} FROM ${table} WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid`,
        ),
        swap: this.db.prepare(
          `UPDATE ${table} SET ${column} = ? WHERE rowid = ? AND ${column} IS ?` +
            (rowKey === undefined ? '' : ` AND ${rowKey} IS ?`),
        ),
      };
      this.statements.set(target.spec, s);
    }
    return s;
  }
}
