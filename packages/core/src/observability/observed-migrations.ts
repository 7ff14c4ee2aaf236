// The migrations as the instance offers them: each command's progress in the metrics (rows done,
// left and failed per target) and its audit records (started, finished or failed, and every data
// key it created, re-wrapped, retired or deleted, found by comparing the data keys before and
// after, so that the engine itself knows nothing of auditing).
import { isAtrestError } from '../errors.js';
import type { MigrationsApi, Progress, TargetReport } from '../migration/types.js';
import type { Store } from '../store/types.js';
import type { Auditor } from './audit.js';
import type { MigrationProgress } from './metrics.js';

type Parts = {
  readonly migrator: MigrationsApi;
  readonly store: Store;
  readonly auditor: Auditor;
  readonly progress: MigrationProgress;
  readonly currentProvider: string;
  /** The current provider's key reference now (a new key-file version after a rotation). */
  readonly currentKeyRef: () => string | undefined;
  /** Refuses once the instance is closed. */
  readonly open: () => void;
};

type Facts = Readonly<Record<string, string | number | boolean>>;

export function observeMigrations(parts: Parts): MigrationsApi {
  const { migrator, store, auditor, progress, currentProvider: provider } = parts;

  /** Run `command` with its audit records; `facts` sums up its result for `migration.finished`. */
  const audited = async <T>(command: string, run: () => Promise<T>, facts: (result: T) => Facts): Promise<T> => {
    parts.open();
    const before = auditor.enabled ? await store.listDataKeys() : [];
    auditor.emit({ event: 'migration.started', command, provider });
    let result: T;
    try {
      result = await run();
    } catch (err) {
      const code = isAtrestError(err) ? err.code : 'ATREST_UNKNOWN';
      if (auditor.enabled) auditor.emitDataKeyChanges(before, await store.listDataKeys(), command);
      auditor.emit({ event: 'migration.failed', outcome: 'failure', command, provider, code });
      throw err;
    }
    if (auditor.enabled) auditor.emitDataKeyChanges(before, await store.listDataKeys(), command);
    auditor.emit({ event: 'migration.finished', command, provider, details: facts(result) });
    return result;
  };

  /** `audited`, with the command's progress in the metrics. */
  const tracked = <O extends { onProgress?: (p: Progress) => void }, T>(
    command: string,
    options: O | undefined,
    run: (options: O) => Promise<T>,
    facts: (result: T) => Facts,
  ): Promise<T> =>
    audited(
      command,
      async () => {
        progress.running = command;
        progress.targets.clear();
        const onProgress = (p: Progress): void => {
          progress.targets.set(p.target, { done: p.scanned, left: Math.max(0, p.total - p.scanned), errors: p.failed });
          options?.onProgress?.(p);
        };
        try {
          return await run({ ...(options ?? ({} as O)), onProgress });
        } finally {
          progress.running = undefined;
        }
      },
      facts,
    );

  const rows = (reports: readonly TargetReport[]): Facts => ({
    rowsScanned: reports.reduce((n, r) => n + r.scanned, 0),
    rowsChanged: reports.reduce((n, r) => n + r.reEncrypted + r.plaintextEncrypted + r.decrypted, 0),
    rowsFailed: reports.reduce((n, r) => n + r.failed, 0),
  });

  return {
    get keyRotation() {
      return migrator.keyRotation;
    },
    reEncrypt: (options) =>
      tracked('secrets-migration re-encrypt', options, migrator.reEncrypt, (reports) => ({
        ...rows(reports),
        dryRun: options?.dryRun === true,
      })),
    reEncryptDataKeys: () =>
      audited('secrets-migration re-encrypt-data-keys', migrator.reEncryptDataKeys, (r) => ({
        rewrapped: r.rewrapped,
        failed: r.failed.length,
      })),
    cleanupDataKeys: () =>
      audited('secrets-migration cleanup', migrator.cleanupDataKeys, (r) => ({ deleted: r.deleted, inUse: r.inUse })),
    rotateDataKeys: () =>
      audited('secrets-migration rotate-data-keys', migrator.rotateDataKeys, (retired) => ({ retired })),
    async rotateEncryptionKey(options) {
      const result = await tracked('rotate-encryption-key', options, migrator.rotateEncryptionKey, (r) => ({
        rewrapped: r.rewrapped,
        failed: r.failed.length,
        ...rows(r.reports),
      }));
      const keyRef = parts.currentKeyRef();
      auditor.emit({ event: 'provider_key.rotated', provider, ...(keyRef !== undefined ? { keyRef } : {}) });
      for (const pruned of result.pruned ?? [])
        auditor.emit({ event: 'provider_key.pruned', provider, keyRef: pruned });
      return result;
    },
    async disableEncryption(options) {
      const result = await tracked('rotate-encryption-key (off)', options, migrator.disableEncryption, (r) => ({
        ...rows(r.reports),
        dataKeysDropped: r.dataKeysDropped,
      }));
      auditor.emit({ event: 'encryption.disabled', provider, details: { dataKeysDropped: result.dataKeysDropped } });
      return result;
    },
    unlock: () => migrator.unlock(),
    async pruneKeys() {
      const removed = await audited('rotate-encryption-key --prune', migrator.pruneKeys, (r) => ({
        removed: r.length,
      }));
      for (const keyRef of removed) auditor.emit({ event: 'provider_key.pruned', provider, keyRef });
      return removed;
    },
  };
}
