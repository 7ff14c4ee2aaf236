// The migration engine behind `secrets-migration` and `rotate-encryption-key`. Every step is
// crash-safe: a value is replaced by a compare-and-swap UPDATE in a short transaction, only with a
// ciphertext under a data key that is already committed; data keys are re-wrapped all at once in
// one transaction. Killed at any instant, every value still decrypts with the keys on disk, and the
// same command run again finishes the job (rows already done are recognised and skipped).
import { AtrestError, errors, isAtrestError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ActiveKey, Envelope } from '../envelope/envelope.js';
import { dataKeyContext } from '../envelope/envelope.js';
import { armor, dearmor, isArmored, readDataKeyId } from '../envelope/format.js';
import type { AtrestInternals } from '../atrest.js';
import type { CheckedProvider } from '../providers/checked.js';
import type { DataKeyRow, Store } from '../store/store.js';
import { cellStrings, checkTarget, readTargetBatch, targetContext } from '../store/targets.js';
import type { Target } from '../store/targets.js';
import { MigrationLock } from './lock.js';

/** The name `re-encrypt --target` and reports use for atrest's own table. */
export const SECRETS_TARGET = 'atrest_secrets';
const MAX_FAILURE_DETAILS = 100;
const CAS_RETRIES = 3;

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
};

/** Progress of a long command, reported after every batch. */
export type Progress = { target: string; scanned: number; total: number; elapsedMs: number };

/** Options of `reEncrypt`. */
export type ReEncryptOptions = {
  dryRun?: boolean;
  /** Rows per transaction (default 1000). */
  batchSize?: number;
  /** Only these targets (`atrest_secrets` for atrest's own table, else `table.column`). */
  targets?: readonly string[];
  onProgress?: (p: Progress) => void;
};

/** Outcome of `reEncryptDataKeys` and the data key part of `rotateEncryptionKey`. */
export type DataKeysReport = {
  total: number;
  rewrapped: number;
  unchanged: number;
  retired: number;
  /** Data keys dropped when encryption was turned off that do not unwrap with today's keys: left as they are (no value needs them). */
  droppedLeft: number;
  failed: { id: string; provider: string; code: string; message: string }[];
};

type Mode = 'encrypt' | 'decrypt';

/** A source of values: atrest's secrets table or an application target. */
type Source = {
  name: string;
  scope: string;
  count(): number;
  /** Read up to `limit` rows after `after` (rowid order). */
  read(after: number, limit: number): SourceRow[];
  /** Re-read one row (after a lost compare-and-swap). */
  reread(row: SourceRow): SourceRow | undefined;
  /** Write `next` if the row still holds what was read. */
  swap(row: SourceRow, next: NewCell): boolean;
  items(row: SourceRow): Item[];
  rebuild(row: SourceRow, replaced: Map<string | undefined, Replacement>): NewCell;
};
type SourceRow = { rowid: number; key: string; cell: unknown; encrypted?: number };
/** One value of a row; its context is bytes, made once for both the decryption and the new encryption. */
type Item = { field: string | undefined; context: Buffer; cipher: Buffer | undefined; plain: Buffer | undefined };
type Replacement = { cipher: Buffer } | { plain: Buffer };
type NewCell = { cell: unknown; encrypted?: number };

function secretsSource(store: Store): Source {
  const read = store.db.prepare(
    'SELECT rowid AS rowid, name, value, encrypted FROM atrest_secrets WHERE rowid > ? ORDER BY rowid LIMIT ?',
  );
  const one = store.db.prepare('SELECT rowid AS rowid, name, value, encrypted FROM atrest_secrets WHERE rowid = ?');
  // updated_at is left alone: re-encrypting does not change a secret's value.
  const swap = store.db.prepare(
    'UPDATE atrest_secrets SET value = ?, encrypted = ? WHERE rowid = ? AND value = ? AND encrypted = ?',
  );
  type R = { rowid: number; name: string; value: Buffer; encrypted: number };
  const toRow = (r: R): SourceRow => ({ rowid: r.rowid, key: r.name, cell: r.value, encrypted: r.encrypted });
  return {
    name: SECRETS_TARGET,
    scope: 'secrets',
    count: () => (store.db.prepare('SELECT count(*) AS n FROM atrest_secrets').get() as { n: number }).n,
    read: (after, limit) => (read.all(after, limit) as R[]).map(toRow),
    reread: (row) => {
      const r = one.get(row.rowid) as R | undefined;
      return r === undefined ? undefined : toRow(r);
    },
    swap: (row, next) => swap.run(next.cell, next.encrypted, row.rowid, row.cell, row.encrypted).changes === 1,
    items: (row) => {
      const value = row.cell as Buffer;
      const context = Buffer.from(`atrest_secrets:${row.key}`, 'utf8');
      return [
        row.encrypted === 1
          ? { field: undefined, context, cipher: value, plain: undefined }
          : { field: undefined, context, cipher: undefined, plain: value },
      ];
    },
    rebuild: (_row, replaced) => {
      const r = replaced.get(undefined);
      if (r === undefined) throw new AtrestError('ATREST_STORE', 'Internal: nothing to rebuild.');
      return 'cipher' in r ? { cell: r.cipher, encrypted: 1 } : { cell: r.plain, encrypted: 0 };
    },
  };
}

function targetSource(store: Store, target: Target): Source {
  checkTarget(store.db, target);
  const one = store.db.prepare(
    `SELECT rowid AS rowid, "${target.column}" AS cell FROM "${target.table}" WHERE rowid = ?`,
  );
  const swap = store.db.prepare(
    `UPDATE "${target.table}" SET "${target.column}" = ? WHERE rowid = ? AND "${target.column}" IS ?`,
  );
  const text = (v: Replacement): string => ('cipher' in v ? armor(v.cipher) : v.plain.toString('utf8'));
  return {
    name: target.spec,
    scope: `${target.table}.${target.column}`,
    count: () => (store.db.prepare(`SELECT count(*) AS n FROM "${target.table}"`).get() as { n: number }).n,
    read: (after, limit) =>
      readTargetBatch(store.db, target, after, limit).map((r) => ({
        rowid: r.rowid,
        key: String(r.rowid),
        cell: r.cell,
      })),
    reread: (row) => {
      const r = one.get(row.rowid) as { rowid: number; cell: unknown } | undefined;
      return r === undefined ? undefined : { rowid: r.rowid, key: String(r.rowid), cell: r.cell };
    },
    swap: (row, next) => swap.run(next.cell, row.rowid, row.cell).changes === 1,
    items: (row) =>
      cellStrings(target, row.cell).map(({ field, value }) => {
        const context = Buffer.from(targetContext(target, field), 'utf8');
        return isArmored(value)
          ? { field, context, cipher: dearmor(value), plain: undefined }
          : { field, context, cipher: undefined, plain: Buffer.from(value, 'utf8') };
      }),
    rebuild: (row, replaced) => {
      if (!target.json) {
        const r = replaced.get(undefined);
        if (r === undefined) throw new AtrestError('ATREST_STORE', 'Internal: nothing to rebuild.');
        return { cell: text(r) };
      }
      const obj = JSON.parse(row.cell as string) as Record<string, unknown>;
      for (const [field, r] of replaced) if (field !== undefined) obj[field] = text(r);
      return { cell: JSON.stringify(obj) };
    },
  };
}

/** A failure of one value of a row (a JSON field names itself in the report). */
class ItemError extends Error {
  constructor(
    readonly item: Item,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

function emptyReport(target: string): TargetReport {
  return {
    target,
    scanned: 0,
    reEncrypted: 0,
    alreadyCurrent: 0,
    plaintextEncrypted: 0,
    decrypted: 0,
    failed: 0,
    failures: [],
  };
}

function codeOf(err: unknown): ErrorCode | 'ERROR' {
  return isAtrestError(err) ? (err as AtrestError).code : 'ERROR';
}

/** Options of `rotateEncryptionKey`. */
export type RotateEncryptionKeyOptions = {
  /** For a passphrase provider: the new passphrase. */
  newSecret?: string;
  /** Also re-encrypt every value onto fresh data keys, under the same lock. */
  full?: boolean;
  onProgress?: (p: Progress) => void;
};

/** What `atrest.migrations` offers: the work of the `secrets-migration` and `rotate-encryption-key` commands. */
export type MigrationsApi = {
  /** Move every value onto an active data key of the current provider; encrypt legacy plaintext. */
  reEncrypt(options?: ReEncryptOptions): Promise<TargetReport[]>;
  /** Re-wrap every data key with the current provider's current key. */
  reEncryptDataKeys(): Promise<DataKeysReport>;
  /** Retire the active data keys: new ones are made on the next encryption. Returns how many. */
  rotateDataKeys(): Promise<number>;
  /** A new key for the current (local) provider, data keys re-wrapped under it. */
  rotateEncryptionKey(options?: RotateEncryptionKeyOptions): Promise<DataKeysReport & { reports: TargetReport[] }>;
  /** Decrypt every value back to plaintext, then drop every data key (encryption off). */
  disableEncryption(options?: ReEncryptOptions): Promise<{ reports: TargetReport[]; dataKeysDropped: number }>;
  /** Remove the current provider's old keys that no data key needs. Returns the removed key references. */
  pruneKeys(): Promise<readonly string[]>;
};

/** Runs migrations on an open atrest's internals. */
export class Migrator implements MigrationsApi {
  private readonly store: Store;
  private readonly envelope: Envelope;

  constructor(private readonly internals: AtrestInternals) {
    this.store = internals.store;
    this.envelope = internals.envelope;
  }

  private withLock<T>(command: string, fn: (lock: MigrationLock) => Promise<T>): Promise<T> {
    const lock = MigrationLock.acquire(this.store, command);
    return fn(lock).finally(() => lock.release());
  }

  private sources(names: readonly string[] | undefined): Source[] {
    const all: { name: string; make: () => Source }[] = [
      { name: SECRETS_TARGET, make: () => secretsSource(this.store) },
      ...this.internals.targets.map((t) => ({ name: t.spec, make: () => targetSource(this.store, t) })),
    ];
    if (names === undefined || names.length === 0) return all.map((s) => s.make());
    return names.map((n) => {
      const hit = all.find((s) => s.name === n || s.name.replace(/:json$/, '') === n);
      if (hit === undefined) {
        throw new AtrestError(
          'ATREST_USAGE',
          `Unknown target ${n}: the targets are ${all.map((s) => s.name).join(', ')} (set them in [secrets_migration] targets).`,
          { details: { target: n } },
        );
      }
      return hit.make();
    });
  }

  /** Move every value onto an active data key of the current provider; encrypt legacy plaintext. */
  reEncrypt(options: ReEncryptOptions = {}): Promise<TargetReport[]> {
    return this.withLock('secrets-migration re-encrypt', (lock) => this.pass('encrypt', options, lock));
  }

  /**
   * Decrypt every value back to plaintext, then drop every data key (encryption off). Dropped keys
   * stay in the table, marked, because an application that was not stopped may have encrypted with
   * one it held in memory; they no longer count: not checked at start, no reason to keep a key.
   */
  disableEncryption(options: ReEncryptOptions = {}): Promise<{ reports: TargetReport[]; dataKeysDropped: number }> {
    return this.withLock('rotate-encryption-key (turn encryption off)', async (lock) => {
      const reports = await this.pass('decrypt', options, lock);
      if (reports.some((r) => r.failed > 0) || options.dryRun === true) return { reports, dataKeysDropped: 0 };
      const now = new Date().toISOString();
      const dropped = this.store.db
        .prepare('UPDATE atrest_data_keys SET active = 0, dropped_at = ?, updated_at = ? WHERE dropped_at IS NULL')
        .run(now, now).changes;
      this.envelope.forgetActiveKeys();
      return { reports, dataKeysDropped: dropped };
    });
  }

  private async pass(mode: Mode, options: ReEncryptOptions, lock: MigrationLock): Promise<TargetReport[]> {
    const batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
    const dryRun = options.dryRun === true;
    const currentProvider = this.internals.registry.currentId;
    const current = new Set(
      this.store
        .dataKeys()
        .filter((k) => k.active === 1 && k.provider === currentProvider)
        .map((k) => k.id),
    );
    const reports: TargetReport[] = [];
    for (const source of this.sources(options.targets)) {
      const report = emptyReport(source.name);
      reports.push(report);
      const total = source.count();
      const started = Date.now();
      let active: ActiveKey | undefined;
      const seal = async (plain: Buffer, context: Buffer): Promise<Buffer> => {
        if (active === undefined || active.remaining <= 0) {
          active = await this.envelope.activeKeyFor(source.scope, 1);
          current.add(active.id);
        }
        return this.envelope.seal(active, plain, context);
      };
      const fail = (row: SourceRow, item: Item | undefined, error: unknown): void => {
        const err = error instanceof ItemError ? error.cause : error;
        if (error instanceof ItemError) item ??= error.item;
        report.failed++;
        if (report.failures.length < MAX_FAILURE_DETAILS) {
          report.failures.push({
            row: row.key,
            ...(item?.field !== undefined ? { field: item.field } : {}),
            code: codeOf(err),
            message: err instanceof Error ? err.message : String(err),
          });
        }
      };
      /** The new cell for `row`, or undefined when nothing changes (counts as it goes). */
      const transform = async (row: SourceRow, count: boolean): Promise<NewCell | undefined> => {
        const replaced = new Map<string | undefined, Replacement>();
        const tally = { reEncrypted: 0, alreadyCurrent: 0, plaintextEncrypted: 0, decrypted: 0 };
        let items: Item[];
        try {
          items = source.items(row);
        } catch (err) {
          // Turning encryption off: a cell that holds no ciphertext has nothing to decrypt.
          if (mode === 'decrypt' && isAtrestError(err, 'ATREST_FORMAT_INVALID')) return undefined;
          throw err;
        }
        for (const item of items) {
          if (item.cipher === undefined) {
            if (mode === 'decrypt') continue;
            tally.plaintextEncrypted++;
            if (!dryRun) replaced.set(item.field, { cipher: await seal(item.plain ?? Buffer.alloc(0), item.context) });
            continue;
          }
          const id = readDataKeyId(item.cipher);
          if (mode === 'encrypt' && current.has(id)) {
            tally.alreadyCurrent++;
            continue;
          }
          let plain: Buffer;
          try {
            const key = this.envelope.cachedKey(id) ?? (await this.envelope.dataKey(id));
            plain = this.envelope.decryptWith(key, item.cipher, item.context);
          } catch (err) {
            throw new ItemError(item, err);
          }
          // A dry run decrypts (so keys that do not unwrap are reported) but builds nothing to write.
          if (mode === 'decrypt') {
            tally.decrypted++;
            if (!dryRun) replaced.set(item.field, { plain });
          } else {
            tally.reEncrypted++;
            if (!dryRun) replaced.set(item.field, { cipher: await seal(plain, item.context) });
          }
        }
        if (count) {
          report.reEncrypted += tally.reEncrypted;
          report.alreadyCurrent += tally.alreadyCurrent;
          report.plaintextEncrypted += tally.plaintextEncrypted;
          report.decrypted += tally.decrypted;
        }
        return replaced.size === 0 ? undefined : source.rebuild(row, replaced);
      };

      for (let after = 0; ; ) {
        const rows = source.read(after, batchSize);
        if (rows.length === 0) break;
        after = rows[rows.length - 1]?.rowid ?? after;
        const writes: { row: SourceRow; next: NewCell }[] = [];
        for (const row of rows) {
          report.scanned++;
          try {
            const next = await transform(row, true);
            if (next !== undefined) writes.push({ row, next });
          } catch (err) {
            fail(row, undefined, err);
          }
        }
        if (writes.length > 0) {
          const lost = this.store.db.transaction(() => writes.filter((w) => !source.swap(w.row, w.next))).immediate();
          // A row the application changed meanwhile: read it again and redo it, a few times.
          for (const w of lost) await this.retryRow(source, w.row, transform, fail);
        }
        lock.heartbeat();
        options.onProgress?.({ target: source.name, scanned: report.scanned, total, elapsedMs: Date.now() - started });
      }
    }
    return reports;
  }

  private async retryRow(
    source: Source,
    first: SourceRow,
    transform: (row: SourceRow, count: boolean) => Promise<NewCell | undefined>,
    fail: (row: SourceRow, item: Item | undefined, err: unknown) => void,
  ): Promise<void> {
    for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
      const row = source.reread(first);
      if (row === undefined) return; // deleted meanwhile: nothing to do
      let next: NewCell | undefined;
      try {
        next = await transform(row, false);
      } catch (err) {
        fail(row, undefined, err);
        return;
      }
      if (next === undefined || source.swap(row, next)) return;
    }
    fail(
      first,
      undefined,
      new AtrestError(
        'ATREST_CONFLICT',
        `Row ${first.key} of ${source.name} kept changing while it was being rewritten; run the command again.`,
      ),
    );
  }

  /**
   * Re-wrap every data key with the current provider's current key (data keys of other providers,
   * or of an older key version, move to it). All rows change in one transaction.
   */
  reEncryptDataKeys(): Promise<DataKeysReport> {
    return this.withLock('secrets-migration re-encrypt-data-keys', () => this.rewrap(false));
  }

  /** Retire the active data keys: new ones are made on the next encryption. */
  rotateDataKeys(): Promise<number> {
    return this.withLock('secrets-migration rotate-data-keys', async () => {
      const n = this.store.db
        .prepare('UPDATE atrest_data_keys SET active = 0, updated_at = ? WHERE active = 1')
        .run(new Date().toISOString()).changes;
      this.envelope.forgetActiveKeys();
      return n;
    });
  }

  private async rewrap(retireActive: boolean, unwrapped?: Map<string, Buffer>): Promise<DataKeysReport> {
    const provider = this.internals.registry.get(this.internals.registry.currentId);
    const rows = this.store.dataKeys();
    const report: DataKeysReport = {
      total: rows.length,
      rewrapped: 0,
      unchanged: 0,
      retired: 0,
      droppedLeft: 0,
      failed: [],
    };
    // The current key's reference, from wrapping a throwaway key: rows already under it need no call.
    const probe = await provider.wrapKey(new Uint8Array(32).fill(1), { atrest_probe: 'current-key' });
    const updates: { row: DataKeyRow; ciphertext: Uint8Array; keyRef: string }[] = [];
    for (const row of rows) {
      if (
        unwrapped !== undefined ? !unwrapped.has(row.id) : row.provider === provider.id && row.key_ref === probe.keyRef
      ) {
        report.unchanged++;
        continue;
      }
      try {
        // Its own data keys, a provider that can re-wraps inside its key service: the key never leaves it.
        const wrapped =
          unwrapped === undefined && row.provider === provider.id && provider.canRewrap
            ? await provider.rewrapKey({ ciphertext: row.wrapped, keyRef: row.key_ref }, dataKeyContext(row))
            : await provider.wrapKey(
                unwrapped?.get(row.id) ?? Buffer.from(await this.envelope.dataKey(row.id)),
                dataKeyContext(row),
              );
        updates.push({ row, ciphertext: wrapped.ciphertext, keyRef: wrapped.keyRef });
      } catch (err) {
        // A key dropped when encryption was turned off may be under a key that is gone: leave it.
        if (row.dropped_at !== null) {
          report.droppedLeft++;
          continue;
        }
        report.failed.push({
          id: row.id,
          provider: row.provider,
          code: codeOf(err),
          message: err instanceof Error ? err.message : String(err),
        });
      }
    }
    const now = new Date().toISOString();
    const update = this.store.db.prepare(
      `UPDATE atrest_data_keys SET provider = @provider, key_ref = @key_ref, wrapped = @wrapped, updated_at = @now,
         active = CASE WHEN active = 1 AND EXISTS (SELECT 1 FROM atrest_data_keys o WHERE o.label = @label AND o.provider = @provider AND o.active = 1 AND o.id <> @id) THEN 0 ELSE active END
       WHERE id = @id AND wrapped = @old`,
    );
    this.store.db
      .transaction(() => {
        for (const u of updates) {
          const changed = update.run({
            provider: provider.id,
            key_ref: u.keyRef,
            wrapped: Buffer.from(u.ciphertext),
            now,
            label: u.row.label,
            id: u.row.id,
            old: u.row.wrapped,
          }).changes;
          if (changed === 1) report.rewrapped++;
          else
            report.failed.push({
              id: u.row.id,
              provider: u.row.provider,
              code: 'ATREST_CONFLICT',
              message: 'the data key changed meanwhile; run the command again',
            });
        }
        if (retireActive)
          report.retired = this.store.db
            .prepare('UPDATE atrest_data_keys SET active = 0, updated_at = ? WHERE active = 1')
            .run(now).changes;
      })
      .immediate();
    this.envelope.forgetActiveKeys();
    return report;
  }

  /**
   * New key for the current provider (a new key-file version, or a new passphrase), then every data
   * key it wrapped is re-wrapped under it and the active ones retired, in one transaction.
   */
  rotateEncryptionKey(options: RotateEncryptionKeyOptions = {}): Promise<DataKeysReport & { reports: TargetReport[] }> {
    return this.withLock('rotate-encryption-key', async (lock) => {
      const provider: CheckedProvider = this.internals.registry.get(this.internals.registry.currentId);
      if (provider.rotation === 'none') {
        throw errors.usage(
          `The current provider ${provider.id} has no local key to rotate.`,
          'Rotate the key in its service (or configure a new key as the current provider), ' +
            "then run 'secrets-migration re-encrypt-data-keys'.",
        );
      }
      // Unwrap everything with the old key first: after the switch only the new key is at hand.
      const unwrapped = new Map<string, Buffer>();
      const failed: DataKeysReport['failed'] = [];
      for (const row of this.store.dataKeys().filter((r) => r.provider === provider.id)) {
        try {
          // A copy: the cache may drop (and zero) its own buffer while the rotation runs.
          unwrapped.set(row.id, Buffer.from(await this.envelope.dataKey(row.id)));
        } catch (err) {
          if (row.dropped_at !== null) continue; // dropped with encryption off, under a key that is gone: left as it is
          failed.push({
            id: row.id,
            provider: row.provider,
            code: codeOf(err),
            message: err instanceof Error ? err.message : String(err),
          });
        }
      }
      if (failed.length > 0) {
        throw new AtrestError(
          'ATREST_MIGRATION_FAILED',
          `${failed.length} data key(s) do not unwrap with the configured keys (first: ${failed[0]?.id}, ${failed[0]?.code}); nothing was rotated.`,
          {
            details: { failed: failed.map((f) => f.id) },
          },
        );
      }
      let report: DataKeysReport;
      try {
        await provider.rotateKey(options.newSecret);
        report = await this.rewrap(true, unwrapped);
      } finally {
        for (const key of unwrapped.values()) key.fill(0);
      }
      // --full: every value onto fresh data keys, under the same lock.
      const reports =
        options.full === true && report.failed.length === 0
          ? await this.pass('encrypt', options.onProgress !== undefined ? { onProgress: options.onProgress } : {}, lock)
          : [];
      return { ...report, reports };
    });
  }

  /** Remove the current provider's old keys that no data key needs; refuses while any is needed. */
  pruneKeys(): Promise<readonly string[]> {
    return this.withLock('rotate-encryption-key --prune', async () => {
      const provider = this.internals.registry.get(this.internals.registry.currentId);
      const rows = this.store.dataKeys().filter((r) => r.provider === provider.id);
      return provider.pruneKeys(rows.map((r) => r.key_ref));
    });
  }
}
