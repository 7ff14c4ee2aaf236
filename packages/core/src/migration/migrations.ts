// `atrest.migrations`: each migration runs under the database's migration lock (one at a time
// across every process on the database), named by the command it serves so that ATREST_LOCKED
// tells an operator what is running, where.
import { hostname } from 'node:os';
import type { MigrationLock } from '../store/types.js';
import { cleanupDataKeys } from './cleanup.js';
import { rewrapDataKeys } from './data-keys.js';
import { reEncryptPass } from './reencrypt.js';
import { disableEncryption, pruneKeys, rotateEncryptionKey } from './rotation.js';
import type { MigrationContext, MigrationsApi } from './types.js';

/** The migrations of an open atrest. */
export function createMigrations(ctx: MigrationContext): MigrationsApi {
  const locked = async <T>(command: string, work: (lock: MigrationLock) => Promise<T>): Promise<T> => {
    const lock = await ctx.store.acquireMigrationLock({
      command,
      pid: process.pid,
      host: hostname(),
      since: new Date().toISOString(),
    });
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  };
  const cleanup = () => cleanupDataKeys(ctx.store, ctx.targets, ctx.registry.currentId, ctx.dataKeysCacheTtlMs);
  return {
    get keyRotation() {
      return ctx.registry.get(ctx.registry.currentId).rotation;
    },
    reEncrypt: (options = {}) =>
      locked('secrets-migration re-encrypt', async (lock) => {
        const reports = await reEncryptPass(ctx, 'encrypt', options, lock);
        // Legacy plaintext it encrypted may have old copies in free space the application's own
        // connection left (without secure_delete): SQLite rebuilds the file. Then the WAL goes.
        const encrypted = reports.some((r) => r.plaintextEncrypted > 0) && options.dryRun !== true;
        try {
          if (encrypted && options.vacuum !== false) options.onVacuum?.(await ctx.store.vacuum());
        } finally {
          // The plaintext and old ciphertext it replaced: out of the store's files (SQLite's WAL).
          if (options.dryRun !== true) await ctx.store.scrubRewrites();
        }
        const complete = (options.targets?.length ?? 0) === 0 && options.dryRun !== true;
        if (complete && reports.every((r) => r.failed === 0)) options.onCleanup?.(await cleanup());
        return reports;
      }),
    cleanupDataKeys: () => locked('secrets-migration cleanup', cleanup),
    reEncryptDataKeys: () => locked('secrets-migration re-encrypt-data-keys', () => rewrapDataKeys(ctx, false)),
    rotateDataKeys: () =>
      locked('secrets-migration rotate-data-keys', async () => {
        const retired = await ctx.store.retireActiveDataKeys();
        ctx.envelope.forgetActiveKeys();
        return retired;
      }),
    rotateEncryptionKey: (options = {}) =>
      locked('rotate-encryption-key', async (lock) => {
        const report = await rotateEncryptionKey(ctx, options, lock);
        try {
          // As reEncrypt: legacy plaintext --full encrypted may have old copies in free space.
          if (report.reports.some((r) => r.plaintextEncrypted > 0))
            return { ...report, vacuum: await ctx.store.vacuum() };
        } finally {
          if (options.full === true) await ctx.store.scrubRewrites();
        }
        return report;
      }),
    disableEncryption: (options = {}) =>
      locked('rotate-encryption-key (turn encryption off)', (lock) => disableEncryption(ctx, options, lock)),
    pruneKeys: () => locked('rotate-encryption-key --prune', () => pruneKeys(ctx)),
    unlock: () => ctx.store.clearMigrationLock(),
  };
}
