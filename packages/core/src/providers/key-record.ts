// Which local key (a key file's current version) the database belongs to, per provider, kept in
// atrest_meta: claimed on first boot (the database decides between nodes that boot at once on an
// empty database) and moved by each rotation. A node whose key differs fails closed, naming the
// key to copy, instead of writing under a key the other nodes lack.
import { errors } from '../errors.js';
import type { CheckedProvider } from './checked.js';
import type { Store } from '../store/types.js';

const recordName = (providerId: string) => `provider_key:${providerId}`;

/**
 * Check the provider's current key against the database's record of it; record it when there is
 * none yet and `create` (a command that may write). The losing node of a first-boot race removes
 * the key it just made. Providers without a local key (KMS, Vault) have no record.
 */
export async function checkKeyRecord(store: Store, provider: CheckedProvider, create: boolean): Promise<void> {
  const current = provider.currentKeyRef;
  if (current === undefined) return;
  const name = recordName(provider.id);
  const recorded = (await store.getMeta(name)) ?? (create ? await store.claimMeta(name, current) : undefined);
  if (recorded === undefined || recorded === current) return;
  if (provider.holdsKey(recorded)) {
    // This node rotated past the record (a rotation stopped before it recorded the new key).
    if (create) await store.setMeta(name, current);
    return;
  }
  const removed = await provider.discardNewKey();
  const path = provider.describe()['key_path'];
  const where = typeof path === 'string' ? `the key file ${path}` : `the key of ${provider.id}`;
  throw errors.keyMismatch(
    `This database belongs to key ${recorded} of ${provider.id} (another node set it up or rotated to it), ` +
      `but ${where} on this node has ${current} and lacks ${recorded}` +
      (removed ? `; the key file this start made was removed again.` : '.'),
    `Every node needs the same key file: copy it from a node whose key is ${recorded}` +
      (typeof path === 'string' ? ` to ${path} (mode 0600, same owner), then start again.` : ', then start again.'),
    { details: { provider: provider.id, fingerprint: recorded, present: current, removedNewKey: removed } },
  );
}

/** After a rotation: the database now belongs to the provider's new key. */
export async function recordRotatedKey(store: Store, provider: CheckedProvider): Promise<void> {
  const current = provider.currentKeyRef;
  if (current !== undefined) await store.setMeta(recordName(provider.id), current);
}
