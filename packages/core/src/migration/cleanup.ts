// The data key cleanup (`secrets-migration cleanup`, and the end of a complete re-encrypt): data
// keys that nothing uses are deleted. Never one a running node may still use: a node keeps an
// active key for up to data_keys_cache_ttl after it was retired, so only keys retired longer ago
// than that go, and only when no secret and no value of any registered target names them. "Ago"
// is by the store's clock (PostgreSQL's server, which dated the retirement), never a node's.
import type { TargetSpec } from '../config/types.js';
import { errors, isAtrestError } from '../errors.js';
import type { DataKeyRecord, Store } from '../store/types.js';
import { countTargetValues } from '../targets.js';
import type { DataKeysCleanup } from './types.js';

/**
 * Ids of the data keys under which values are stored: every encrypted secret's and every target
 * value's. A target that cannot be read (other than a table not created yet) stops the cleanup:
 * nothing is deleted on facts that were not checked.
 */
async function keysInUse(store: Store, targets: readonly TargetSpec[], ids: readonly string[]): Promise<Set<string>> {
  const used = new Set<string>();
  for (const id of ids) if ((await store.countSecretsUnder([id])) > 0) used.add(id);
  for (const target of targets) {
    try {
      for (const id of (await countTargetValues(store, target)).byDataKey.keys()) used.add(id);
    } catch (err) {
      if (isAtrestError(err, 'ATREST_CONFIG_INVALID') && err.details['missing'] === 'table') continue;
      throw errors.migrationFailed(
        `Cannot count the values of ${target.spec} (${err instanceof Error ? err.message : String(err)}); ` +
          'no data key was deleted.',
        `Fix the target (or remove it from [secrets_migration] targets), then run 'secrets-migration cleanup'.`,
        { cause: err, details: { target: target.spec } },
      );
    }
  }
  return used;
}

/** The data keys no value names and no running node may still use, and why the others stay. */
export async function findUnusedDataKeys(
  store: Store,
  targets: readonly TargetSpec[],
  cacheTtlMs: number,
  now: number,
): Promise<{ deletable: DataKeyRecord[]; retiredRecently: DataKeyRecord[]; inUse: number }> {
  const retired = (await store.listDataKeys()).filter((k) => !k.active);
  const used = await keysInUse(
    store,
    targets,
    retired.map((k) => k.id),
  );
  const unused = retired.filter((k) => !used.has(k.id));
  // updated_at is at or after the retirement: a key unchanged since before the cutoff was retired before it.
  const cutoff = now - cacheTtlMs;
  return {
    deletable: unused.filter((k) => Date.parse(k.updatedAt) <= cutoff),
    retiredRecently: unused.filter((k) => Date.parse(k.updatedAt) > cutoff),
    inUse: retired.length - unused.length,
  };
}

/**
 * Retire the active data keys of providers that are not current (this node encrypts under none of
 * them), then delete the data keys nothing uses that were retired longer than `cacheTtlMs` ago.
 */
export async function cleanupDataKeys(
  store: Store,
  targets: readonly TargetSpec[],
  currentProvider: string,
  cacheTtlMs: number,
): Promise<DataKeysCleanup> {
  for (const k of await store.listDataKeys()) {
    if (k.active && k.provider !== currentProvider) await store.retireDataKey(k.id);
  }
  // The store's clock, as the retirement times were written by it: a node's own clock never decides.
  const now = await store.now();
  const found = await findUnusedDataKeys(store, targets, cacheTtlMs, now);
  const deleted = await store.deleteDataKeys(
    found.deletable.map((k) => k.id),
    new Date(now - cacheTtlMs).toISOString(),
  );
  const next = found.retiredRecently.map((k) => Date.parse(k.updatedAt) + cacheTtlMs);
  return {
    deleted,
    inUse: found.inUse,
    waiting: found.retiredRecently.length,
    ...(next.length > 0 ? { deletableFrom: new Date(Math.min(...next)).toISOString() } : {}),
  };
}
