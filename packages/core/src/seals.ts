// Seals: plaintext only during a transition. A place (atrest's own secrets, `atrest_secrets`, or a
// registered target's `table.column`) is sealed once re-encrypt left no plaintext there (atrest's
// secrets from the start: atrest writes them encrypted); from then on a plaintext value there is
// refused, with allowPlaintext too, unless `[security.encryption] reopen_plaintext` names the place.
// Turning encryption off lifts every seal (it writes plaintext on purpose). The store keeps them.
import { errors } from './errors.js';
import type { AtrestError } from './errors.js';
import type { Store } from './store/types.js';
import { SECRETS_TARGET } from './targets.js';

/** What decides whether plaintext at a place is refused: the store's seals and the configuration. */
export type SealPolicy = {
  /** `[security.encryption] reopen_plaintext`: places (or `*`) whose transition is reopened. */
  readonly reopenPlaintext: readonly string[];
  /** The environment prefix, for the variable the error names. */
  readonly envPrefix: string;
};

/** What a place is as status shows it. */
export type SealState =
  /** Plaintext there is refused. */
  | 'sealed'
  /** Sealed, but reopen_plaintext accepts plaintext there again. */
  | 'reopened'
  /** Never sealed (or unsealed by turning encryption off): plaintext is legacy, re-encrypt seals it. */
  | 'transition';

/** True when the configuration reopens `place`. */
export function isReopened(policy: SealPolicy, place: string): boolean {
  return policy.reopenPlaintext.includes('*') || policy.reopenPlaintext.includes(place);
}

/** The state of `place` given the store's seals. */
export function sealState(policy: SealPolicy, seals: ReadonlyMap<string, string>, place: string): SealState {
  if (!seals.has(place)) return 'transition';
  return isReopened(policy, place) ? 'reopened' : 'sealed';
}

/**
 * The sealed place a context belongs to: a secret's (`atrest_secrets:<name>`), or a target's
 * (`table.column`, then `@…` for a row key or `.field` for a JSON field); undefined when none.
 */
export function placeOfContext(
  context: string | Uint8Array | undefined,
  seals: ReadonlyMap<string, string>,
): string | undefined {
  if (context === undefined) return undefined;
  const text = typeof context === 'string' ? context : Buffer.from(context).toString('utf8');
  if (text.startsWith(`${SECRETS_TARGET}:`)) return SECRETS_TARGET;
  for (const place of seals.keys()) {
    if (text === place || text.startsWith(`${place}@`) || text.startsWith(`${place}.`)) return place;
  }
  return undefined;
}

/** The error for a plaintext value found at a sealed place; `where` names the value (`row 12 of …`). */
export function plaintextSealed(policy: SealPolicy, place: string, sealedAt: string, where: string): AtrestError {
  const variable = `${policy.envPrefix}SECURITY_ENCRYPTION_REOPEN_PLAINTEXT`;
  return errors.plaintextSealed(
    `${where} is plaintext, but ${place} is sealed (since ${sealedAt} no plaintext belongs there), ` +
      'so it is refused even where plaintext is allowed: someone wrote it behind atrest.',
    `If it is legitimate (legacy values brought back after sealing), set [security.encryption] reopen_plaintext = ` +
      `${place} (or ${variable}), run 'atrest secrets-migration re-encrypt', then remove the setting; ` +
      'otherwise restore the value from a backup.',
    { details: { place, sealedAt } },
  );
}

/** Throws ATREST_PLAINTEXT_SEALED when `place` is sealed and not reopened. */
export async function checkPlaintextAllowed(
  store: Store,
  policy: SealPolicy,
  context: string | Uint8Array | undefined,
  where: string,
): Promise<void> {
  if (context === undefined) return; // a value of no place: no seal applies
  const seals = await store.seals();
  const place = placeOfContext(context, seals);
  if (place === undefined || isReopened(policy, place)) return;
  const sealedAt = seals.get(place);
  if (sealedAt !== undefined) throw plaintextSealed(policy, place, sealedAt, where);
}

/**
 * After an encrypting pass over `place` without a failure: seal it. A place sealed for the first time
 * is counted again after the seal is committed, so that plaintext a writer put behind the pass is
 * found: then the seal is lifted again (false), and the next re-encrypt seals it.
 */
export async function sealAfterPass(
  store: Store,
  place: string,
  wasSealed: boolean,
  countPlaintext: () => Promise<number>,
): Promise<boolean> {
  if (wasSealed) return true;
  await store.seal(place, new Date().toISOString());
  if ((await countPlaintext()) === 0) return true;
  await store.unseal([place]);
  return false;
}
