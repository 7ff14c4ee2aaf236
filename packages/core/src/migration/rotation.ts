// Rotating the local provider's key (`rotate-encryption-key`): a new key-file version or a new
// passphrase, every data key it wrapped re-wrapped under it and the active ones retired in one
// transaction; pruning the old versions once no data key needs them; and turning encryption off.
import { errors } from '../errors.js';
import { recordRotatedKey } from '../providers/key-record.js';
import type { MigrationLock } from '../store/types.js';
import { rewrapDataKeys } from './data-keys.js';
import { failedDataKey } from './failures.js';
import { reEncryptPass } from './reencrypt.js';
import type {
  DataKeysReport,
  MigrationContext,
  ReEncryptOptions,
  RotateEncryptionKeyOptions,
  TargetReport,
} from './types.js';

/** New key for the current provider, data keys re-wrapped under it; with `full`, every value re-encrypted. */
export async function rotateEncryptionKey(
  ctx: MigrationContext,
  options: RotateEncryptionKeyOptions,
  lock: MigrationLock,
): Promise<DataKeysReport & { reports: TargetReport[] }> {
  const provider = ctx.registry.get(ctx.registry.currentId);
  if (provider.rotation === 'none') {
    throw errors.usage(
      `The current provider ${provider.id} has no local key to rotate.`,
      'Rotate the key in its service (or configure a new key as the current provider), ' +
        "then run 'secrets-migration re-encrypt-data-keys'.",
    );
  }
  // Unwrap everything with the old key first: after the switch only the new key is at hand.
  const unwrapped = new Map<string, Buffer>();
  let report: DataKeysReport;
  try {
    const failed: DataKeysReport['failed'] = [];
    for (const row of (await ctx.store.listDataKeys()).filter((r) => r.provider === provider.id)) {
      try {
        // A copy: the cache may drop (and zero) its own buffer while the rotation runs.
        unwrapped.set(row.id, Buffer.from(await ctx.envelope.dataKey(row.id)));
      } catch (err) {
        if (row.droppedAt !== null) continue; // dropped with encryption off, under a key that is gone: left as it is
        failed.push(failedDataKey(row, err));
      }
    }
    const first = failed[0];
    if (first !== undefined) {
      throw errors.migrationFailed(
        `${failed.length} data key(s) do not unwrap with the configured keys (first: ${first.id}, ${first.code}); ` +
          'nothing was rotated.',
        'Configure the keys the data keys were wrapped with, then run the rotation again.',
        { details: { failed: failed.map((f) => f.id) } },
      );
    }
    await provider.rotateKey(options.newSecret);
    await recordRotatedKey(ctx.store, provider);
    report = await rewrapDataKeys(ctx, true, unwrapped);
  } finally {
    for (const key of unwrapped.values()) key.fill(0);
  }
  // --full: every value onto fresh data keys, under the same lock.
  const reports =
    options.full === true && report.failed.length === 0
      ? await reEncryptPass(
          ctx,
          'encrypt',
          options.onProgress !== undefined ? { onProgress: options.onProgress } : {},
          lock,
        )
      : [];
  return { ...report, reports };
}

/** Remove the current provider's old keys that no data key needs (the provider refuses while any is needed). */
export async function pruneKeys(ctx: MigrationContext): Promise<readonly string[]> {
  const provider = ctx.registry.get(ctx.registry.currentId);
  const rows = (await ctx.store.listDataKeys()).filter((r) => r.provider === provider.id);
  return provider.pruneKeys(rows.map((r) => r.keyRef));
}

/**
 * Decrypt every value back to plaintext, then drop every data key (encryption off). Dropped keys
 * stay in the table, marked, because an application that was not stopped may have encrypted with
 * one it held in memory; they no longer count: not checked at start, no reason to keep a key.
 */
export async function disableEncryption(
  ctx: MigrationContext,
  options: ReEncryptOptions,
  lock: MigrationLock,
): Promise<{ reports: TargetReport[]; dataKeysDropped: number }> {
  // Plaintext is written on purpose: every seal goes first, so that no value is refused meanwhile.
  if (options.dryRun !== true) await ctx.store.unseal();
  const reports = await reEncryptPass(ctx, 'decrypt', options, lock);
  if (reports.some((r) => r.failed > 0) || options.dryRun === true) return { reports, dataKeysDropped: 0 };
  const dropped = await ctx.store.dropDataKeys();
  ctx.envelope.forgetActiveKeys();
  return { reports, dataKeysDropped: dropped };
}
