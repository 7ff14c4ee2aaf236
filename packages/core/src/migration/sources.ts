// The sources a migration pass walks: atrest's secrets table and each registered target, each
// seen as pages of rows whose values (items) are rewritten by compare-and-swap through the store.
import type { TargetSpec } from '../config/types.js';
import {
  DATA_KEY_ID_LENGTH,
  DATA_KEY_ID_OFFSET,
  armor,
  damagedCiphertext,
  looksLikeCiphertext,
  textCiphertext,
} from '../envelope/format.js';
import { errors } from '../errors.js';
import type { RowId, SecretRow, SecretSwap, Store, TargetRow, TargetSwap } from '../store/types.js';
import {
  SECRETS_SCOPE,
  SECRETS_TARGET,
  cellStrings,
  checkTarget,
  countTargetValues,
  secretContext,
  targetContext,
  targetScope,
} from '../targets.js';

/** One value of a row; its context is bytes, made once for both the decryption and the new encryption. */
export type Item = {
  field: string | undefined;
  context: Buffer;
  cipher: Buffer | undefined;
  plain: Buffer | undefined;
};
/** What an item becomes: a new ciphertext, or (encryption turned off) its plaintext. */
export type Replacement = { cipher: Buffer } | { plain: Buffer };

/** A table of values: rows of type R, rewritten by swaps of type W. */
export type Source<R extends { id: RowId }, W extends { row: R }> = {
  /** As `re-encrypt --target` and the reports name it. */
  name: string;
  /** The data key scope of its values. */
  scope: string;
  /** Where it is sealed (seals.ts): `atrest_secrets`, or the target's `table.column`. */
  place: string;
  count(): Promise<number>;
  /** How many plaintext values it holds now (what sealing checks). */
  countPlaintext(): Promise<number>;
  read(after: RowId | undefined, limit: number): Promise<R[]>;
  reread(ids: readonly RowId[]): Promise<R[]>;
  /** Write in one transaction; returns the swaps that lost to a concurrent writer. */
  swap(swaps: readonly W[]): Promise<W[]>;
  /** How reports name a row. */
  rowName(row: R): string;
  items(row: R): Item[];
  rebuild(row: R, replaced: ReadonlyMap<string | undefined, Replacement>): W;
};

/** Something that works on a source of any row type. */
type SourceWork<T> = <R extends { id: RowId }, W extends { row: R }>(source: Source<R, W>) => Promise<T>;
/** A source whose row types are its own business. */
type AnySource = { name: string; run<T>(work: SourceWork<T>): Promise<T> };

function anySource<R extends { id: RowId }, W extends { row: R }>(source: Source<R, W>): AnySource {
  return { name: source.name, run: (work) => work(source) };
}

function only(replaced: ReadonlyMap<string | undefined, Replacement>): Replacement {
  const r = replaced.get(undefined);
  if (r === undefined) throw errors.internal('a row was rebuilt without a replacement for its value');
  return r;
}

/**
 * A value stored as plaintext, unless it starts like ciphertext or names one of the database's data
 * keys where an envelope names it: a damaged envelope (or a row whose flag was changed) is never
 * encrypted as if it were plaintext.
 */
function plainSecret(value: Buffer, dataKeyIds: ReadonlySet<string>): Buffer {
  const named = value.toString('hex', DATA_KEY_ID_OFFSET, DATA_KEY_ID_OFFSET + DATA_KEY_ID_LENGTH);
  if (looksLikeCiphertext(value) || dataKeyIds.has(named)) throw damagedCiphertext();
  return value;
}

function secretsSource(store: Store, dataKeyIds: ReadonlySet<string>): Source<SecretRow, SecretSwap> {
  return {
    name: SECRETS_TARGET,
    scope: SECRETS_SCOPE,
    place: SECRETS_TARGET,
    count: () => store.countSecrets(),
    countPlaintext: async () => (await store.secretsByDataKey()).get('') ?? 0,
    read: (after, limit) => store.readSecrets(after, limit),
    reread: (ids) => store.rereadSecrets(ids),
    swap: (swaps) => store.swapSecrets(swaps),
    rowName: (row) => row.name,
    items: (row) => {
      const context = Buffer.from(secretContext(row.name), 'utf8');
      return [
        row.encrypted
          ? { field: undefined, context, cipher: row.value, plain: undefined }
          : { field: undefined, context, cipher: undefined, plain: plainSecret(row.value, dataKeyIds) },
      ];
    },
    rebuild: (row, replaced) => {
      const r = only(replaced);
      return 'cipher' in r ? { row, value: r.cipher, encrypted: true } : { row, value: r.plain, encrypted: false };
    },
  };
}

function targetSource(store: Store, target: TargetSpec): Source<TargetRow, TargetSwap> {
  const text = (r: Replacement): string => ('cipher' in r ? armor(r.cipher) : r.plain.toString('utf8'));
  return {
    name: target.spec,
    scope: targetScope(target),
    place: targetScope(target),
    count: () => store.countTargetRows(target),
    countPlaintext: async () => (await countTargetValues(store, target)).plaintext,
    read: (after, limit) => store.readTargetRows(target, after, limit),
    reread: (ids) => store.rereadTargetRows(target, ids),
    swap: (swaps) => store.swapTargetCells(target, swaps),
    rowName: (row) => String(row.id),
    items: (row) =>
      cellStrings(target, row.cell).map(({ field, value }) => {
        const context = Buffer.from(targetContext(target, field, row.rowKey), 'utf8');
        const cipher = textCiphertext(value);
        return { field, context, cipher, plain: cipher === undefined ? Buffer.from(value, 'utf8') : undefined };
      }),
    rebuild: (row, replaced) => {
      if (!target.json) return { row, cell: text(only(replaced)) };
      const obj = JSON.parse(row.cell ?? '{}') as Record<string, unknown>;
      for (const [field, r] of replaced) if (field !== undefined) obj[field] = text(r);
      return { row, cell: JSON.stringify(obj) };
    },
  };
}

/**
 * The sources named (all when none): `atrest_secrets` and the registered targets, by spec or by
 * `table.column` alone. Every target's table and columns must exist.
 */
export async function selectSources(
  store: Store,
  targets: readonly TargetSpec[],
  names: readonly string[] | undefined,
): Promise<AnySource[]> {
  const all: { name: string; target: TargetSpec | undefined }[] = [
    { name: SECRETS_TARGET, target: undefined },
    ...targets.map((t) => ({ name: t.spec, target: t })),
  ];
  const chosen =
    names === undefined || names.length === 0
      ? all
      : names.map((n) => {
          const hit = all.find((s) => s.name === n || (s.target !== undefined && targetScope(s.target) === n));
          if (hit === undefined) {
            throw errors.usage(
              `Unknown target ${n}: the targets are ${all.map((s) => s.name).join(', ')}.`,
              'Set them in [secrets_migration] targets.',
              { details: { target: n } },
            );
          }
          return hit;
        });
  const sources: AnySource[] = [];
  for (const { target } of chosen) {
    if (target === undefined) {
      const dataKeyIds = new Set((await store.listDataKeys()).map((k) => k.id));
      sources.push(anySource(secretsSource(store, dataKeyIds)));
    } else {
      await checkTarget(store, target);
      sources.push(anySource(targetSource(store, target)));
    }
  }
  return sources;
}
