// The shapes of the migration engine: its options and reports (public, what the CLI prints), and
// the context an open atrest hands it (internal).
import type { TargetSpec } from '../config/types.js';
import type { Envelope, ProviderRegistry } from '../envelope/envelope.js';
import type { KeyRotationKind } from '../providers/contract.js';
import type { SealPolicy } from '../seals.js';
import type { LockClearing, Store, VacuumOutcome } from '../store/types.js';

/** One failed row. */
export type RowFailure = { row: string; field?: string; code: string; message: string };

/** Per-target outcome of `re-encrypt` (or of turning encryption off). */
export type TargetReport = {
  target: string;
  scanned: number;
  reEncrypted: number;
  alreadyCurrent: number;
  plaintextEncrypted: number;
  decrypted: number;
  failed: number;
  failures: RowFailure[];
  /**
   * True when the target is sealed after the run: no plaintext is left and plaintext there is refused
   * from now on (README, "Plaintext only during a transition"). A dry run tells whether it is sealed
   * already; turning encryption off unseals every target.
   */
  sealed: boolean;
};

/** Progress of a long command, reported after every batch. */
export type Progress = { target: string; scanned: number; total: number; failed: number; elapsedMs: number };

/** Options of `reEncrypt`. */
export type ReEncryptOptions = {
  dryRun?: boolean;
  /** Rows per transaction (default 1000). */
  batchSize?: number;
  /**
   * Worker threads for the cryptography (default: one per core, at most 16; 1: on the calling
   * thread). Tables of one batch or less never start them.
   */
  workers?: number;
  /** Only these targets (`atrest_secrets` for atrest's own table, else `table.column`). */
  targets?: readonly string[];
  onProgress?: (p: Progress) => void;
  /** Told what the data key cleanup at the end of a complete run did. */
  onCleanup?: (c: DataKeysCleanup) => void;
  /**
   * After a run that encrypted legacy plaintext, rebuild the SQLite file (VACUUM) so no old copy is
   * left in its free space (default true; false: skip it, the README says how to do it by hand).
   */
  vacuum?: boolean;
  /** Told whether that VACUUM ran (and why not); called only when plaintext was encrypted. */
  onVacuum?: (v: VacuumOutcome) => void;
};

/** Outcome of `reEncryptDataKeys` and the data key part of `rotateEncryptionKey`. */
export type DataKeysReport = {
  total: number;
  rewrapped: number;
  unchanged: number;
  retired: number;
  /**
   * Data keys dropped when encryption was turned off that do not unwrap with today's keys: left as
   * they are (no value needs them).
   */
  droppedLeft: number;
  failed: { id: string; provider: string; code: string; message: string }[];
};

/** Outcome of the data key cleanup (`cleanupDataKeys`, and the end of a complete `reEncrypt`). */
export type DataKeysCleanup = {
  /** Data keys deleted: retired longer than data_keys_cache_ttl ago, and no value names them. */
  deleted: number;
  /** Retired data keys that values still name (a re-encrypt moves them). */
  inUse: number;
  /** Unused data keys retired too recently: a running node may still encrypt under them. */
  waiting: number;
  /** When the first of those may go (ISO-8601); run the cleanup again after it. */
  deletableFrom?: string;
};

/** Options of `rotateEncryptionKey`. */
export type RotateEncryptionKeyOptions = {
  /** For a passphrase provider: the new passphrase. */
  newSecret?: string;
  /** Also re-encrypt every value onto fresh data keys, under the same lock. */
  full?: boolean;
  /** Then remove the old key versions (as `pruneKeys`), under the same lock, if nothing failed. */
  prune?: boolean;
  onProgress?: (p: Progress) => void;
};

/** What `rotateEncryptionKey` did: the data keys' re-wrap, with `full` the values' reports, with `prune` what went. */
export type RotationReport = DataKeysReport & {
  reports: TargetReport[];
  /** With `prune`: the removed key references; undefined when a failure left the old keys in place. */
  pruned?: readonly string[];
  /** With `full`, when it encrypted legacy plaintext: whether the SQLite file was rebuilt (as `reEncrypt`). */
  vacuum?: VacuumOutcome;
};

/** What `atrest.migrations` offers: the work of the `secrets-migration` and `rotate-encryption-key` commands. */
export type MigrationsApi = {
  /**
   * What `rotateEncryptionKey` does with the current provider, as the provider declares it: make a
   * new key itself (`generated-key`), take a new passphrase (`passphrase`, `newSecret`), or nothing
   * (`none`: a cloud key is rotated in its service).
   */
  readonly keyRotation: KeyRotationKind;
  /**
   * Move every value onto an active data key of the current provider; encrypt legacy plaintext.
   * When every target was done without a failure (and not a dry run), the data keys nothing uses
   * are cleaned up as `cleanupDataKeys` does.
   */
  reEncrypt(options?: ReEncryptOptions): Promise<TargetReport[]>;
  /**
   * Retire the active data keys of providers that are not current, then delete the data keys no
   * value names that were retired longer than data_keys_cache_ttl ago.
   */
  cleanupDataKeys(): Promise<DataKeysCleanup>;
  /** Re-wrap every data key with the current provider's current key. */
  reEncryptDataKeys(): Promise<DataKeysReport>;
  /** Retire the active data keys: new ones are made on the next encryption. Returns how many. */
  rotateDataKeys(): Promise<number>;
  /** A new key for the current (local) provider, data keys re-wrapped under it. */
  rotateEncryptionKey(options?: RotateEncryptionKeyOptions): Promise<RotationReport>;
  /** Decrypt every value back to plaintext, then drop every data key (encryption off). */
  disableEncryption(options?: ReEncryptOptions): Promise<{ reports: TargetReport[]; dataKeysDropped: number }>;
  /** Remove the current provider's old keys that no data key needs. Returns the removed key references. */
  pruneKeys(): Promise<readonly string[]>;
  /**
   * Clear the migration lock's row when it is damaged or its holder is gone; ATREST_LOCKED while a
   * live process holds the lock (never broken). What `secrets-migration unlock` runs.
   */
  unlock(): Promise<LockClearing>;
};

/** What the migrations work on: an open atrest's store, envelope, providers and targets. */
export type MigrationContext = {
  readonly store: Store;
  readonly envelope: Envelope;
  readonly registry: ProviderRegistry;
  readonly targets: readonly TargetSpec[];
  /** How long a node may keep using a data key after it was retired. */
  readonly dataKeysCacheTtlMs: number;
  /** Which sealed places accept plaintext again, for the pass and its errors. */
  readonly seals: SealPolicy;
};
