// Where values live besides what the caller holds: atrest's own secrets (bound to their names) and
// the application's registered targets, `table.column` (a TEXT column of armored values) or
// `table.column:json` (a JSON object whose string values are each armored), either bound to its row
// by `@key_column`. This module knows their contexts and how to read a cell; the store reads and
// writes the rows.
import type { TargetSpec } from './config/types.js';
import { readDataKeyId, textCiphertext } from './envelope/format.js';
import { errors, isAtrestError } from './errors.js';
import type { RowId, Store } from './store/types.js';

/** The name `re-encrypt --target` and the reports use for atrest's own table. */
export const SECRETS_TARGET = 'atrest_secrets';
/** The data key scope of atrest's own secrets. */
export const SECRETS_SCOPE = 'secrets';

/** The context a secret's value is bound to: its name. */
export function secretContext(name: string): string {
  return `atrest_secrets:${name}`;
}

/** The data key scope of a target's values: `table.column`. */
export function targetScope(target: Pick<TargetSpec, 'table' | 'column'>): string {
  return `${target.table}.${target.column}`;
}

/**
 * The context of a target's value: `table.column`, then for a row-bound target
 * `@<key column>:<UTF-8 byte length of the row key>:<row key>` (length-prefixed, so no row key and
 * field can be mistaken for another), then for a JSON field `.<field>` (docs/FORMAT.md §1).
 * ATREST_ROW_KEY_MISSING when the target is row-bound and the row key is undefined or null.
 */
export function targetContext(target: TargetSpec, field: string | undefined, row: string | null | undefined): string {
  let context = targetScope(target);
  if (target.rowKey !== undefined) {
    if (row === undefined || row === null) {
      throw errors.rowKeyMissing(
        `The target ${target.spec} binds each value to its row's ${target.rowKey}, and ` +
          (row === null ? `this row's ${target.rowKey} is NULL.` : 'no row was given.'),
        row === null
          ? `Give the row a ${target.rowKey} before its value is encrypted.`
          : `Pass { row: <the row's ${target.rowKey}> } with the target.`,
        { details: { target: target.spec, rowKey: target.rowKey } },
      );
    }
    context += `@${target.rowKey}:${Buffer.byteLength(row, 'utf8')}:${row}`;
  }
  return field === undefined ? context : `${context}.${field}`;
}

/** Throws ATREST_CONFIG_INVALID unless the target's table and columns (the row key's too) exist. */
export async function checkTarget(store: Store, target: TargetSpec): Promise<void> {
  const columns = await store.targetColumns(target);
  if (columns === undefined) {
    throw errors.configInvalid(
      `The target ${target.spec} names the table ${target.table}, which is not in the database.`,
      'Fix [secrets_migration] targets.',
      { details: { target: target.spec, missing: 'table' } },
    );
  }
  if (!columns.includes(target.column)) {
    throw errors.configInvalid(
      `The target ${target.spec} names the column ${target.column}, which the table ${target.table} does not have ` +
        `(it has ${columns.join(', ')}).`,
      'Fix [secrets_migration] targets.',
      { details: { target: target.spec, missing: 'column' } },
    );
  }
  if (target.rowKey !== undefined && !columns.includes(target.rowKey)) {
    throw errors.configInvalid(
      `The target ${target.spec} binds its values to the column ${target.rowKey}, which the table ${target.table} ` +
        `does not have (it has ${columns.join(', ')}).`,
      'Fix [secrets_migration] targets.',
      { details: { target: target.spec, missing: 'rowKey' } },
    );
  }
}

/**
 * The string values of a cell: the column itself, or each string value of its JSON object
 * (ATREST_FORMAT_INVALID when a :json cell is not an object).
 */
export function cellStrings(target: TargetSpec, cell: string | null): { field: string | undefined; value: string }[] {
  if (cell === null || cell === '') return [];
  if (!target.json) return [{ field: undefined, value: cell }];
  let obj: unknown;
  try {
    obj = JSON.parse(cell);
  } catch {
    obj = undefined;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    // Its values cannot be encrypted one by one: say so rather than pass over it.
    throw errors.formatInvalid(
      `The ${target.spec} cell is not a JSON object, so its values cannot be encrypted field by field.`,
      `Fix the row, or register the column as ${target.table}.${target.column} (without :json).`,
      { details: { target: target.spec, notAnObject: true } },
    );
  }
  return Object.entries(obj as Record<string, unknown>)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([field, value]) => ({ field, value }));
}

/** What a target holds: rows, plaintext values, malformed cells, and ciphertexts per data key id ('?': malformed). */
type TargetCounts = { rows: number; invalid: number; plaintext: number; byDataKey: Map<string, number> };

const COUNT_BATCH = 5000;

/** Count a target's values by the data key that encrypted them (paged: memory independent of the table). */
export async function countTargetValues(store: Store, target: TargetSpec): Promise<TargetCounts> {
  await checkTarget(store, target);
  const counts: TargetCounts = { rows: 0, invalid: 0, plaintext: 0, byDataKey: new Map() };
  for (let after: RowId | undefined; ; ) {
    const batch = await store.readTargetRows(target, after, COUNT_BATCH);
    const last = batch.at(-1);
    if (last === undefined) return counts;
    after = last.id;
    for (const { cell } of batch) {
      counts.rows++;
      let values: { value: string }[];
      try {
        values = cellStrings(target, cell);
      } catch (err) {
        if (!isAtrestError(err, 'ATREST_FORMAT_INVALID')) throw err;
        counts.invalid++; // not a JSON object: counted apart, reported by re-encrypt
        continue;
      }
      for (const { value } of values) {
        const id = dataKeyIdOf(value);
        if (id === undefined) counts.plaintext++;
        else counts.byDataKey.set(id, (counts.byDataKey.get(id) ?? 0) + 1);
      }
    }
  }
}

/** The data key id a ciphertext names; '?' when it is damaged (re-encrypt reports it); undefined for plaintext. */
function dataKeyIdOf(value: string): string | undefined {
  try {
    const cipher = textCiphertext(value);
    return cipher === undefined ? undefined : readDataKeyId(cipher);
  } catch (err) {
    if (isAtrestError(err, 'ATREST_FORMAT_INVALID')) return '?';
    throw err;
  }
}
