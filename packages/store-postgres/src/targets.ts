// The application's registered targets in a PostgreSQL database: its own tables, paged by their
// single-column primary key and written by compare-and-swap, one statement per batch. Each table's
// shape (key, column types) is read from the catalogue once. Names are quoted identifiers.
import { type RowId, type TargetRow, type TargetSwap, errors } from '@atrest/core';
import type { TargetSpec } from '@atrest/core';
import type pg from 'pg';

type Shape = {
  readonly table: string;
  readonly key: string;
  readonly keyType: string;
  readonly column: string;
  /** SQL that turns the text parameter `v.cell` into the column's value. */
  readonly cellValue: string;
  /** SQL that reads a row-bound target's row key as text (`t.` qualifies it in the swap). */
  readonly rowKeyText: ((qualifier: string) => string) | undefined;
  /** What a scan selects: the key, the cell as text (NULL when its type is not text, as SQLite's store
   * does) and, for a row-bound target, its row key. */
  readonly select: string;
};

const textTypes = /^(text|character varying|character|json|jsonb)(\(|$)/;

export class PostgresTargets {
  private readonly shapes = new Map<string, Shape>();

  constructor(private readonly pool: pg.Pool) {}

  async columns(target: TargetSpec): Promise<readonly string[] | undefined> {
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT attname AS name FROM pg_attribute
       WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [quote(target.table)],
    );
    return rows.length === 0 ? undefined : rows.map((r) => r.name);
  }

  async count(target: TargetSpec): Promise<number> {
    const s = await this.shape(target);
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${s.table}`);
    return Number(rows[0]?.n ?? 0);
  }

  async read(target: TargetSpec, after: RowId | undefined, limit: number): Promise<TargetRow[]> {
    const s = await this.shape(target);
    const select = `${s.select} FROM ${s.table}`;
    const { rows } =
      after === undefined
        ? await this.pool.query<TargetRow>(`${select} ORDER BY ${s.key} LIMIT $1`, [limit])
        : await this.pool.query<TargetRow>(`${select} WHERE ${s.key} > $1 ORDER BY ${s.key} LIMIT $2`, [after, limit]);
    return rows;
  }

  async reread(target: TargetSpec, ids: readonly RowId[]): Promise<TargetRow[]> {
    const s = await this.shape(target);
    const { rows } = await this.pool.query<TargetRow>(
      `${s.select} FROM ${s.table} WHERE ${s.key} = ANY($1::${s.keyType}[]) ORDER BY ${s.key}`,
      [ids],
    );
    return rows;
  }

  /** Write every swap whose cell is unchanged, in one statement; returns the swaps that lost. */
  async swap(target: TargetSpec, swaps: readonly TargetSwap[]): Promise<TargetSwap[]> {
    if (swaps.length === 0) return [];
    const s = await this.shape(target);
    const values = [swaps.map((w) => w.row.id), swaps.map((w) => w.cell), swaps.map((w) => w.row.cell)];
    // A row-bound target's swap also checks the row key: a value encrypted for one key is never
    // written to a row whose key changed meanwhile.
    const sameRowKey = s.rowKeyText === undefined ? '' : ` AND ${s.rowKeyText('t.')} IS NOT DISTINCT FROM v.row_key`;
    const { rows } = await this.pool.query<{ id: RowId }>(
      `UPDATE ${s.table} AS t SET ${s.column} = ${s.cellValue}
       FROM unnest($1::${s.keyType}[], $2::text[], $3::text[]${s.rowKeyText === undefined ? '' : ', $4::text[]'})
         AS v(id, cell, old${s.rowKeyText === undefined ? '' : ', row_key'})
       WHERE t.${s.key} = v.id AND (t.${s.column})::text IS NOT DISTINCT FROM v.old${sameRowKey}
       RETURNING t.${s.key} AS id`,
      s.rowKeyText === undefined ? values : [...values, swaps.map((w) => w.row.rowKey ?? null)],
    );
    const written = new Set(rows.map((r) => String(r.id)));
    return swaps.filter((w) => !written.has(String(w.row.id)));
  }

  private async shape(target: TargetSpec): Promise<Shape> {
    const known = this.shapes.get(target.spec);
    if (known) return known;
    const table = quote(target.table);
    const { rows } = await this.pool.query<{ name: string; type: string; key: boolean }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              coalesce(a.attnum = ANY(i.indkey), false) AS key
       FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
       WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [table],
    );
    if (rows.length === 0) {
      throw errors.configInvalid(
        `The target ${target.spec} names the table ${target.table}, which is not in this database.`,
        'Fix [secrets_migration] targets, or create the table first.',
        { details: { target: target.spec, missing: 'table' } },
      );
    }
    const keys = rows.filter((r) => r.key);
    const key = keys[0];
    if (key === undefined || keys.length !== 1) {
      throw errors.configInvalid(
        `The target ${target.spec}: the table ${target.table} has ` +
          (keys.length === 0 ? 'no primary key' : `a primary key of ${keys.length} columns`) +
          ', and atrest pages a target by a single-column primary key.',
        `Give ${target.table} a single-column primary key (or a unique identity column made its primary key).`,
      );
    }
    const cell = rows.find((r) => r.name === target.column);
    if (cell === undefined) {
      throw errors.configInvalid(
        `The target ${target.spec}: the table ${target.table} has no column ${target.column}.`,
        'Fix [secrets_migration] targets.',
        { details: { target: target.spec, missing: 'column' } },
      );
    }
    const column = quote(target.column);
    const type = cell.type.split('(')[0];
    const rowKey = target.rowKey === undefined ? undefined : quote(target.rowKey);
    const rowKeyText = rowKey === undefined ? undefined : (qualifier: string) => `(${qualifier}${rowKey})::text`;
    const cellText = textTypes.test(cell.type) ? `(${column})::text` : 'NULL::text';
    const shape: Shape = {
      table,
      key: quote(key.name),
      keyType: key.type,
      column,
      rowKeyText,
      select:
        `SELECT ${quote(key.name)} AS id, ${cellText} AS cell` +
        (rowKeyText === undefined ? '' : `, ${rowKeyText('')} AS "rowKey"`),
      // An explicit cast to varchar(n) would cut a long value short: assignment raises an error instead.
      cellValue: type === 'json' || type === 'jsonb' ? `v.cell::${type}` : 'v.cell',
    };
    this.shapes.set(target.spec, shape);
    return shape;
  }
}

/** A quoted identifier. */
function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
