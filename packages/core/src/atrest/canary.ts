// The start-up canary: the configured keys must match the data before anything is read or
// written. It unwraps the newest data keys of each provider key in use.
import type { Envelope } from '../envelope/envelope.js';
import { errors, isAtrestError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DataKeyRecord, Store } from '../store/types.js';

/** Data keys tried per provider key: a damaged record is not a wrong key, another one proves the key right. */
const TRIED_PER_PROVIDER_KEY = 3;

/**
 * Unwrap the newest data keys of each provider key in use: a wrong key file or passphrase stops
 * here. A provider that is down, or an old provider whose newest keys do not unwrap, is logged:
 * the values concerned fail one by one with a typed error; the current provider must not write.
 */
export async function canary(
  store: Store,
  envelope: Envelope,
  configured: ReadonlySet<string>,
  currentId: string,
  logger: Logger,
): Promise<void> {
  const groups = new Map<string, DataKeyRecord[]>();
  for (const row of await store.newestDataKeys(TRIED_PER_PROVIDER_KEY)) {
    const group = `${row.provider}\u0000${row.keyRef}`;
    groups.set(group, [...(groups.get(group) ?? []), row]);
  }
  for (const group of groups.values()) {
    const first = group[0];
    if (first === undefined) continue;
    if (!configured.has(first.provider)) {
      logger.warn('atrest: data keys of a provider that is not configured', { provider: first.provider });
      continue;
    }
    const failure = await unwrapFailure(envelope, group);
    if (failure === undefined) continue;
    if (isAtrestError(failure, 'ATREST_PROVIDER_UNAVAILABLE')) {
      logger.warn(
        'atrest: provider unavailable at start; values whose data keys it must unwrap will fail until it is back',
        { provider: first.provider },
      );
      continue;
    }
    if (!isAtrestError(failure, 'ATREST_DECRYPT_FAILED')) throw failure;
    // Damaged records, or a wrong key that does not say so.
    if (first.provider !== currentId) {
      logger.warn('atrest: the newest data keys of a provider do not unwrap; values under them will fail', {
        provider: first.provider,
        keyRef: first.keyRef,
      });
      continue;
    }
    throw errors.decryptFailed(
      `None of the newest data keys of ${first.provider} (key ${first.keyRef}) unwraps: their records in ` +
        'atrest_data_keys were changed or damaged, or the configured key is not the one they were wrapped with.',
      'Restore the database or the key from backup.',
      { cause: failure, details: { provider: first.provider, keyRef: first.keyRef } },
    );
  }
}

/** Undefined when one data key of the group unwraps, else the last failure. */
async function unwrapFailure(envelope: Envelope, group: readonly DataKeyRecord[]): Promise<unknown> {
  let failure: unknown;
  for (const row of group) {
    try {
      await envelope.check(row);
      return undefined;
    } catch (err) {
      failure = err;
      // A wrong key is wrong for every data key of the group; anything else may be this record only.
      if (!isAtrestError(err, 'ATREST_DECRYPT_FAILED')) return failure;
    }
  }
  return failure;
}
