// Data key re-wrap behind `secrets-migration re-encrypt-data-keys` and `rotate-encryption-key`:
// every data key is wrapped again by the current provider's current key, and all records change
// in one transaction (a record changed meanwhile is left alone and reported). Values are untouched.
import { dataKeyContext } from '../envelope/envelope.js';
import { errors } from '../errors.js';
import type { DataKeyRewrap } from '../store/types.js';
import { failedDataKey } from './failures.js';
import type { DataKeysReport, MigrationContext } from './types.js';

/**
 * Re-wrap data keys with the current provider's current key: every key not under it yet, or, with
 * `unwrapped` (a rotation that unwrapped them before switching keys), exactly those. With
 * `retireActive` the active data keys are retired in the same transaction.
 */
export async function rewrapDataKeys(
  ctx: MigrationContext,
  retireActive: boolean,
  unwrapped?: ReadonlyMap<string, Buffer>,
): Promise<DataKeysReport> {
  const provider = ctx.registry.get(ctx.registry.currentId);
  const rows = await ctx.store.listDataKeys();
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
  // A provider whose old keys are at hand shows by unwrapping which data keys are under its current
  // key: a key_ref column naming the current key is not taken on trust.
  const suspect = new Set<string>();
  if (unwrapped === undefined && provider.rotation === 'generated-key') {
    const own = rows.filter((r) => r.provider === provider.id && r.keyRef === probe.keyRef && r.droppedAt === null);
    const checks = own.map((r) => ({
      id: r.id,
      wrapped: { ciphertext: r.wrapped, keyRef: r.keyRef },
      context: dataKeyContext(r),
      required: true,
    }));
    // A provider that cannot tell (no currentKeyOnly: a usage error) leaves the column to decide, as before.
    for (const k of await provider.needingOldKeys(checks).catch(() => [])) suspect.add(k.id);
  }
  const rewraps: DataKeyRewrap[] = [];
  for (const row of rows) {
    const done =
      unwrapped !== undefined
        ? !unwrapped.has(row.id)
        : row.provider === provider.id && row.keyRef === probe.keyRef && !suspect.has(row.id);
    if (done) {
      report.unchanged++;
      continue;
    }
    // A copy the cache cannot zero while the provider wraps it; zeroed once wrapped.
    let key: Buffer | undefined;
    try {
      // Its own data keys, a provider that can re-wraps inside its key service: the key never leaves it.
      const inService = unwrapped === undefined && row.provider === provider.id && provider.canRewrap;
      if (!inService) key = Buffer.from(unwrapped?.get(row.id) ?? (await ctx.envelope.dataKey(row.id)));
      const wrapped =
        key === undefined
          ? await provider.rewrapKey({ ciphertext: row.wrapped, keyRef: row.keyRef }, dataKeyContext(row))
          : await provider.wrapKey(key, dataKeyContext(row));
      rewraps.push({
        id: row.id,
        expectedWrapped: row.wrapped,
        provider: provider.id,
        keyRef: wrapped.keyRef,
        wrapped: Buffer.from(wrapped.ciphertext),
      });
    } catch (err) {
      // A key dropped when encryption was turned off may be under a key that is gone: leave it.
      if (row.droppedAt !== null) report.droppedLeft++;
      else report.failed.push(failedDataKey(row, err));
    } finally {
      key?.fill(0);
    }
  }
  const outcome = await ctx.store.rewrapDataKeys(rewraps, { retireActive });
  const conflicts = new Set(outcome.conflicts);
  const providerOf = new Map(rows.map((r) => [r.id, r.provider]));
  for (const r of rewraps) {
    if (!conflicts.has(r.id)) report.rewrapped++;
    else {
      const conflict = errors.conflict('The data key changed meanwhile.', 'Run the command again.');
      report.failed.push(failedDataKey({ id: r.id, provider: providerOf.get(r.id) ?? '?' }, conflict));
    }
  }
  report.retired = outcome.retired;
  ctx.envelope.forgetActiveKeys();
  return report;
}
