// The store seam: everything atrest reads and writes in the application database goes through
// `Store`. The SQLite store (sqlite-*.ts) implements it; a PostgreSQL store implements the same
// type and runs the same conformance suite (@atrest/testkit's runStoreConformance). Every method is
// asynchronous and batch-shaped: one call per batch of rows, never one per row.
import type { TargetSpec } from '../config/types.js';
import type { LockHolder } from '../errors.js';

/**
 * The version of atrest's tables that this atrest writes: every store brings its tables to it when
 * it opens, and refuses a database that a newer atrest upgraded further (ATREST_SCHEMA_TOO_NEW).
 * Version 1: data keys, secrets, meta. Version 2: data keys carry `droppedAt`. Version 3: seals
 * (atrest_seals: the places where plaintext is refused).
 */
export const STORE_SCHEMA_VERSION = 3;

/** How a store opens its database. */
export type StoreOpenOptions = {
  /**
   * True: create what is missing (a SQLite file, atrest's tables). False, for commands that create
   * nothing (status, secrets get…): the database and atrest's tables must exist already, else
   * ATREST_NOT_INITIALIZED, and nothing is created (tables of an older schema are still upgraded).
   */
  readonly create: boolean;
};

/** A data key as the store keeps it. */
export type DataKeyRecord = {
  /** 32 lower-case hex digits: the 16 bytes every ciphertext names in its header. */
  readonly id: string;
  /** `<scope>/<YYYY-MM-DD>`: at most one active data key per label and provider. */
  readonly label: string;
  /** `<type>.<name>` of the provider that wrapped it. */
  readonly provider: string;
  /** The provider key (version) that wrapped it; public. */
  readonly keyRef: string;
  /** The provider's wrapped bytes. */
  readonly wrapped: Buffer;
  /** True while new values are encrypted under it. */
  readonly active: boolean;
  /** Encryptions handed out under it so far (by every process): the budget is checked against it. */
  readonly encryptionsReserved: number;
  /** ISO-8601 times. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set when encryption was turned off: the key is kept for stragglers but no longer counts. */
  readonly droppedAt: string | null;
};

/** What `createActiveDataKey` inserts. */
export type NewDataKey = Pick<
  DataKeyRecord,
  'id' | 'label' | 'provider' | 'keyRef' | 'wrapped' | 'encryptionsReserved' | 'createdAt'
>;

/** A data key wrapped anew, written only if its record still holds `expectedWrapped`. */
export type DataKeyRewrap = {
  readonly id: string;
  /** The wrapped bytes read before re-wrapping: a record changed meanwhile is a conflict. */
  readonly expectedWrapped: Buffer;
  readonly provider: string;
  readonly keyRef: string;
  readonly wrapped: Buffer;
};

/** Outcome of `rewrapDataKeys`. */
export type RewrapOutcome = {
  /** Ids of the data keys that changed since they were read: left as they are. */
  readonly conflicts: readonly string[];
  /** How many active data keys were retired (with `retireActive`). */
  readonly retired: number;
};

/**
 * The key a paged scan orders by and a row is addressed with: SQLite's rowid, PostgreSQL's
 * single-column primary key. Opaque to callers; they pass back what a scan returned.
 */
export type RowId = number | string;

/** One of atrest's own secrets. */
export type SecretRecord = {
  readonly name: string;
  /** A binary envelope (encrypted) or the plain bytes. */
  readonly value: Buffer;
  readonly encrypted: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
};

/** A secret without its value, as `listSecrets` returns it. */
export type SecretSummary = Omit<SecretRecord, 'value'> & {
  /** Stored bytes. */
  readonly size: number;
};

/** A secret as a paged scan returns it, for the migrations. */
export type SecretRow = Pick<SecretRecord, 'name' | 'value' | 'encrypted'> & { readonly id: RowId };

/** A compare-and-swap of one secret: written only if the row still holds what `row` holds. */
export type SecretSwap = { readonly row: SecretRow; readonly value: Buffer; readonly encrypted: boolean };

/** A row of a registered target as a paged scan returns it. */
export type TargetRow = {
  readonly id: RowId;
  /** The cell as text; null when SQL NULL or not text. */
  readonly cell: string | null;
  /** For a row-bound target (`@key_column`): that column's value cast to text; null when SQL NULL. */
  readonly rowKey?: string | null;
};

/** A compare-and-swap of one target cell: written only if the cell and row key still hold `row.cell`, `row.rowKey`. */
export type TargetSwap = { readonly row: TargetRow; readonly cell: string };

/** A migration lock held by this process. */
export type MigrationLock = {
  /**
   * Tell other processes the holder is alive (once per batch); ATREST_LOCKED when another process
   * took the lock over meanwhile (the migration must stop).
   */
  heartbeat(): Promise<void>;
  /** Release the lock; a lock taken over by another process meanwhile is left alone. */
  release(): Promise<void>;
};

/** What `clearMigrationLock` found and cleared. */
export type LockClearing =
  | { readonly cleared: 'none' }
  /** A row that was not what atrest writes (`problem` says how). */
  | { readonly cleared: 'damaged'; readonly problem: string }
  /** The row of a holder that is gone (killed, or past the stale limit). */
  | { readonly cleared: 'stale'; readonly holder: LockHolder };

/** atrest's tables in the application database, and the application's registered targets. */
export type Store = {
  /** The database as people are shown it: SQLite's file, PostgreSQL's URL with the password redacted. */
  readonly location: string;

  // ----- schema
  /** The schema version of atrest's tables (STORE_SCHEMA_VERSION once the store is open). */
  schemaVersion(): Promise<number>;

  // ----- data keys
  /** The data key `id`, dropped or not. */
  dataKey(id: string): Promise<DataKeyRecord | undefined>;
  /** The active data key of `label` wrapped by `provider`. */
  activeDataKey(label: string, provider: string): Promise<DataKeyRecord | undefined>;
  /**
   * Insert `key` as the active data key of its label and provider unless another is active (the
   * database decides between racing processes); returns the active one, ours or the winner's.
   * Committed when it resolves, on atrest's own connection: never inside the application's
   * transaction, so no rollback can take a data key that values already use.
   */
  createActiveDataKey(key: NewDataKey): Promise<DataKeyRecord>;
  /**
   * Reserve `count` encryptions under the active data key `id`: false when that would pass `cap`
   * (the budget holds across processes) or the key was retired meanwhile.
   */
  reserveEncryptions(id: string, count: number, cap: number): Promise<boolean>;
  /** Retire the data key `id` if it is active; true when it was. */
  retireDataKey(id: string): Promise<boolean>;
  /** Retire every active data key; returns how many. */
  retireActiveDataKeys(): Promise<number>;
  /** Mark every data key not dropped yet as dropped (and inactive); returns how many. */
  dropDataKeys(): Promise<number>;
  /**
   * Delete the data keys of these ids that are retired (or dropped) and unchanged since
   * `retiredBefore` (ISO-8601), in one statement; returns how many. The caller has checked that no
   * value names them: this is the data key cleanup, the only way a data key leaves the table.
   */
  deleteDataKeys(ids: readonly string[], retiredBefore: string): Promise<number>;
  /**
   * The clock data keys are dated by (milliseconds since the epoch): the database server's on
   * PostgreSQL, shared by every node; the host's on SQLite. The cleanup's cutoff is taken from it.
   */
  now(): Promise<number>;
  /** Every data key, oldest first (created, then id). */
  listDataKeys(): Promise<DataKeyRecord[]>;
  /** How many data keys count (not dropped), of `provider` or of all. */
  countDataKeys(provider?: string): Promise<number>;
  /**
   * The newest `perProviderKey` data keys (not dropped) of every provider and key reference, grouped
   * by provider then key reference, newest first: what the start-up canary unwraps.
   */
  newestDataKeys(perProviderKey: number): Promise<DataKeyRecord[]>;
  /**
   * In one transaction: write every re-wrap whose record is unchanged (a data key that moves to a
   * provider that already has an active key for its label is retired), then with `retireActive`
   * retire every active data key. All or nothing.
   */
  rewrapDataKeys(rewraps: readonly DataKeyRewrap[], options: { retireActive: boolean }): Promise<RewrapOutcome>;

  // ----- atrest's secrets
  getSecret(name: string): Promise<SecretRecord | undefined>;
  /** Insert or replace the secret `name` (its creation time is kept on replace). */
  putSecret(name: string, value: Uint8Array, encrypted: boolean): Promise<void>;
  /** Delete the secret `name`; true when it existed. */
  deleteSecret(name: string): Promise<boolean>;
  /** Every secret without its value, by name. */
  listSecrets(): Promise<SecretSummary[]>;
  countSecrets(): Promise<number>;
  /** Up to `limit` secrets after `after` (undefined: from the start), in RowId order. */
  readSecrets(after: RowId | undefined, limit: number): Promise<SecretRow[]>;
  /** The secrets of these ids as they are now (deleted ones are left out). */
  rereadSecrets(ids: readonly RowId[]): Promise<SecretRow[]>;
  /**
   * In one transaction, write each swap whose row still holds what was read (updated_at is left
   * alone: the secret's value did not change). Returns the swaps that lost to a concurrent writer.
   */
  swapSecrets(swaps: readonly SecretSwap[]): Promise<SecretSwap[]>;
  /** Secrets per data key id their envelope names ('' for plaintext): what `status` counts values by. */
  secretsByDataKey(): Promise<Map<string, number>>;
  /** How many encrypted secrets name one of these data keys. */
  countSecretsUnder(dataKeyIds: readonly string[]): Promise<number>;

  // ----- the application's registered targets
  /** The columns of the target's table, or undefined when there is no such table. */
  targetColumns(target: TargetSpec): Promise<readonly string[] | undefined>;
  countTargetRows(target: TargetSpec): Promise<number>;
  /** Up to `limit` rows of the target after `after` (undefined: from the start), in RowId order. */
  readTargetRows(target: TargetSpec, after: RowId | undefined, limit: number): Promise<TargetRow[]>;
  /** The target's rows of these ids as they are now (deleted ones are left out). */
  rereadTargetRows(target: TargetSpec, ids: readonly RowId[]): Promise<TargetRow[]>;
  /** In one transaction, write each swap whose cell is unchanged; returns the swaps that lost. */
  swapTargetCells(target: TargetSpec, swaps: readonly TargetSwap[]): Promise<TargetSwap[]>;

  // ----- seals: where plaintext is refused (`atrest_secrets`, or a target's `table.column`)
  /** Every sealed place and when it was sealed (ISO-8601). */
  seals(): Promise<Map<string, string>>;
  /** Seal `place` at `at`, unless it is sealed already (the first time is kept). */
  seal(place: string, at: string): Promise<void>;
  /** Lift the seals of `places` (every seal when undefined); returns how many were lifted. */
  unseal(places?: readonly string[]): Promise<number>;

  // ----- meta and the migration lock
  /** A value of atrest's meta table. */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Set the meta value `key` to `value` unless it is set; returns the value it holds then (ours, or
   * the one another process set first: the database decides between racing processes).
   */
  claimMeta(key: string, value: string): Promise<string>;
  /**
   * Take the migration lock for `holder`, or throw ATREST_LOCKED naming the process that holds it.
   * A holder that died does not keep it: the store detects it (or the database releases it).
   */
  acquireMigrationLock(holder: LockHolder): Promise<MigrationLock>;
  /**
   * Clear the lock's row when it is damaged or its holder is gone (`secrets-migration unlock`);
   * ATREST_LOCKED while a live process holds the lock: a live holder is never broken.
   */
  clearMigrationLock(): Promise<LockClearing>;
  /**
   * After a migration rewrote values, leave no old copy in files the store controls (SQLite: a WAL
   * checkpoint that truncates the -wal file). False when it could not complete (a reader is open).
   */
  scrubRewrites(): Promise<boolean>;
  /**
   * After re-encrypt encrypted legacy plaintext: rebuild the database so no old copy is left in its
   * free space (SQLite: VACUUM; PostgreSQL: not done, VACUUM (FULL) is the operator's step).
   */
  vacuum(): Promise<VacuumOutcome>;

  /** Close atrest's own connections (a handle the application passed in stays open). */
  close(): Promise<void>;
};

/** What `Store.vacuum` did: rebuilt the database file, or why not. */
export type VacuumOutcome = { vacuumed: true } | { vacuumed: false; reason: string };
