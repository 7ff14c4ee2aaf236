// Application targets: the host's own encrypted columns, registered as `table.column` (a TEXT
// column of armored values) or `table.column:json` (a JSON object whose string values are each
// armored). atrest reads them to count and re-encrypt; the application writes them.
import type Database from 'better-sqlite3';
import type { TargetSpec } from '../config/types.js';
import { AtrestError } from '../errors.js';
import { dearmor, isArmored, readDataKeyId } from '../envelope/format.js';

/** A registered target, as the configuration parses `[secrets_migration] targets`. */
export type Target = TargetSpec;

/** The context (and data key scope) atrest binds to values of a target; a JSON field adds `.<field>`. */
export function targetContext(target: Pick<Target, 'table' | 'column'>, field?: string): string {
  return field === undefined ? `${target.table}.${target.column}` : `${target.table}.${target.column}.${field}`;
}

/** Throws ATREST_CONFIG_INVALID unless the target's table and column exist. */
export function checkTarget(db: Database.Database, target: Target): void {
  const cols = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(target.table) as { name: string }[];
  if (cols.length === 0) {
    throw new AtrestError(
      'ATREST_CONFIG_INVALID',
      `The target ${target.spec} names the table ${target.table}, which is not in the database. Fix [secrets_migration] targets.`,
      { details: { target: target.spec } },
    );
  }
  if (!cols.some((c) => c.name === target.column)) {
    throw new AtrestError(
      'ATREST_CONFIG_INVALID',
      `The target ${target.spec} names the column ${target.column}, which the table ${target.table} does not have (it has ${cols.map((c) => c.name).join(', ')}).`,
      {
        details: { target: target.spec },
      },
    );
  }
}

/** The string values of a cell: the column itself, or each string value of its JSON object (ATREST_FORMAT_INVALID when a :json cell is not an object). */
export function cellStrings(target: Target, cell: unknown): { field: string | undefined; value: string }[] {
  if (typeof cell !== 'string' || cell === '') return [];
  if (!target.json) return [{ field: undefined, value: cell }];
  let obj: unknown;
  try {
    obj = JSON.parse(cell);
  } catch {
    obj = undefined;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    // Its values cannot be encrypted one by one: say so rather than pass over it.
    throw new AtrestError(
      'ATREST_FORMAT_INVALID',
      `The ${target.spec} cell is not a JSON object, so its values cannot be encrypted field by field. Fix the row, or register the column as ${target.table}.${target.column} (without :json).`,
      {
        details: { target: target.spec },
      },
    );
  }
  return Object.entries(obj as Record<string, unknown>)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([field, value]) => ({ field, value }));
}

/** Iterate a target's rows (rowid and cell) in rowid order, from `afterRowid` on, `limit` at a time. */
export function readTargetBatch(
  db: Database.Database,
  target: Target,
  afterRowid: number,
  limit: number,
): { rowid: number; cell: unknown }[] {
  return db
    .prepare(
      `SELECT rowid AS rowid, "${target.column}" AS cell FROM "${target.table}" WHERE rowid > ? ORDER BY rowid LIMIT ?`,
    )
    .all(afterRowid, limit) as { rowid: number; cell: unknown }[];
}

/** What a target holds: rows, plaintext values, malformed cells, and ciphertexts per data key id ('?' for malformed ones). */
export type TargetScan = { rows: number; invalid: number; plaintext: number; byDataKey: Map<string, number> };

/** Count a target's values by the data key that encrypted them (streamed; memory independent of the table). */
export function scanTarget(db: Database.Database, target: Target): TargetScan {
  checkTarget(db, target);
  const scan: TargetScan = { rows: 0, invalid: 0, plaintext: 0, byDataKey: new Map() };
  for (let after = 0; ; ) {
    const batch = readTargetBatch(db, target, after, 5000);
    if (batch.length === 0) break;
    for (const { rowid, cell } of batch) {
      after = rowid;
      scan.rows++;
      let values: { value: string }[];
      try {
        values = cellStrings(target, cell);
      } catch {
        scan.invalid++;
        continue;
      }
      for (const { value } of values) {
        if (!isArmored(value)) {
          scan.plaintext++;
          continue;
        }
        let id = '?';
        try {
          id = readDataKeyId(dearmor(value));
        } catch {
          // malformed ciphertext: counted under '?', reported by re-encrypt
        }
        scan.byDataKey.set(id, (scan.byDataKey.get(id) ?? 0) + 1);
      }
    }
  }
  return scan;
}
