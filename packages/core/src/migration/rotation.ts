// Rotating the local provider's key (`rotate-encryption-key`): a new key-file version or a new
// passphrase, every data key it wrapped re-wrapped under it and the active ones retired in one
// transaction; pruning the old versions once no data key needs them; and turning encryption off.
import { dataKeyContext } from '../envelope/envelope.js';
import { errors } from '../errors.js';
import type { DataKeyCheck } from '../providers/checked.js';
import { recordRotatedKey } from '../providers/key-record.js';
import type { MigrationLock } from '../store/types.js';
import { rewrapDataKeys } from './data-keys.js';
import { failedDataKey } from './failures.js';
import { reEncryptPass } from './reencrypt.js';
import type {
  DataKeysReport,
  MigrationContext,
  RotationReport,
  ReEncryptOptions,
  RotateEncryptionKeyOptions,
  TargetReport,
} from './types.js';

/** New key for the current provider, data keys re-wrapped under it; with `full`, every value re-encrypted. */
export async function rotateEncryptionKey(
  ctx: MigrationContext,
  options: RotateEncryptionKeyOptions,
  lock: MigrationLock,
): Promise<RotationReport> {
  const provider = ctx.registry.get(ctx.registry.currentId);
  if (provider.rotation === 'none') {
    throw errors.usage(
      `The current provider ${provider.id} has no local key to rotate.`,
      'Rotate the key in its service (or configure a new key as the current provider), ' +
        "then run 'secrets-migration re-encrypt-data-keys'.",
    );
  }
  if (options.prune === true && provider.rotation !== 'generated-key') {
    throw errors.usage(
      `The current provider ${provider.id} keeps no old keys: there is nothing to prune; nothing was rotated.`,
      'Run the rotation without --prune.',
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
  // --prune: the old versions go once nothing failed, still under the same lock.
  const clean = report.failed.length === 0 && reports.every((r) => r.failed === 0);
  if (options.prune !== true || !clean) return { ...report, reports };
  return { ...report, reports, pruned: await pruneKeys(ctx) };
}

/**
 * Remove the current provider's old keys once no data key needs them, proven by unwrapping (never
 * by the key_ref column): its own data keys must unwrap with its current key alone, and so must
 * another provider's data key that does not unwrap with that provider (a tampered provider column).
 */
export async function pruneKeys(ctx: MigrationContext): Promise<readonly string[]> {
  const provider = ctx.registry.get(ctx.registry.currentId);
  const checks: DataKeyCheck[] = [];
  for (const row of await ctx.store.listDataKeys()) {
    const own = row.provider === provider.id;
    if (
      !own &&
      (await ctx.envelope.dataKey(row.id).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const wrapped = { ciphertext: row.wrapped, keyRef: row.keyRef };
    checks.push({ id: row.id, wrapped, context: dataKeyContext(row), required: own && row.droppedAt === null });
  }
  return provider.pruneKeys(checks);
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
