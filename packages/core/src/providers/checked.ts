// Core's guard around every provider, ours or a third party's: the one place a provider's output
// is checked. Pre- and post-conditions hold whatever the provider does (key lengths, no plaintext
// echoed, typed errors naming the provider), and the data key copies the guard makes are zeroed.
import { errors, isAtrestError } from '../errors.js';
import type { AtrestError, ErrorExtra } from '../errors.js';
import { ProviderRequestStats } from '../observability/provider-requests.js';
import type { EncryptionContext, KeyProvider, KeyRotationKind, WrappedKey } from './contract.js';

/** A data key as a prune checks it: its record, the context it was wrapped with, and whether it must unwrap. */
export type DataKeyCheck = {
  readonly id: string;
  readonly wrapped: WrappedKey;
  readonly context: EncryptionContext;
  /** A data key that must unwrap with one of the provider's keys (not one dropped, nor another provider's). */
  readonly required: boolean;
};

const DATA_KEY_LENGTH = 32;
/** A health check that has not answered by then counts as failed (a hung provider is unhealthy, not silent). */
export const HEALTH_TIMEOUT_MS = 15_000;

/** Health as `status` reports it. */
export type ProviderHealth = { healthy: boolean; reason?: string; code?: string };

/**
 * Codes a provider may report without depending on core: a third party's plain error carrying one
 * of them as `code` becomes an AtrestError with that code; anything else is ATREST_PROVIDER_FAILED.
 */
const PROVIDER_CODES: Readonly<Record<string, (problem: string, fix: string, extra: ErrorExtra) => AtrestError>> = {
  ATREST_CONFIG_INVALID: errors.configInvalid,
  ATREST_PROVIDER_AUTH: errors.providerAuth,
  ATREST_PROVIDER_UNAVAILABLE: errors.providerUnavailable,
  ATREST_PROVIDER_FAILED: errors.providerFailed,
  ATREST_TLS: errors.tls,
  ATREST_KEY_MISSING: errors.keyMissing,
  ATREST_KEY_MISMATCH: errors.keyMismatch,
  ATREST_KEY_FILE_PERMISSIONS: errors.keyFilePermissions,
  ATREST_KEY_FILE_INVALID: errors.keyFileInvalid,
  ATREST_WRONG_KEY: errors.wrongKey,
  ATREST_USAGE: errors.usage,
};

/** Whatever a provider threw, as an AtrestError naming the provider. */
export function providerFailure(id: string, op: string, err: unknown): AtrestError {
  if (isAtrestError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && Object.hasOwn(PROVIDER_CODES, code) ? PROVIDER_CODES[code] : undefined;
  if (known !== undefined) return known(message, '', { cause: err, details: { provider: id } });
  return errors.providerFailed(
    `Provider ${id} failed to ${op}: ${message}`,
    "Read the cause; if it persists, report it to the provider's authors.",
    { cause: err, details: { provider: id } },
  );
}

/** A provider wrapped in core's checks. */
export class CheckedProvider {
  lastHealth: ProviderHealth = { healthy: true };
  /** Requests to the provider by operation and outcome, with their latency (metrics). */
  readonly requests = new ProviderRequestStats();
  /** The key reference of the last wrap (metrics show its hash). */
  lastKeyRef: string | undefined;
  private probedAt = Number.NEGATIVE_INFINITY;
  private probe: Promise<ProviderHealth> | undefined;

  constructor(
    readonly id: string,
    readonly type: string,
    private inner: KeyProvider,
  ) {}

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
    if (dataKey.length !== DATA_KEY_LENGTH) {
      throw errors.providerContract(this.id, `asked to wrap ${dataKey.length} bytes`);
    }
    // The provider gets its own copy (it may keep or change it); zeroed once it is done.
    const copy = new Uint8Array(dataKey);
    let wrapped: WrappedKey;
    try {
      wrapped = await this.requests.time('wrap', () => this.inner.wrapKey(copy, { ...context }));
    } catch (err) {
      throw this.observe(providerFailure(this.id, 'wrap a data key', err));
    } finally {
      copy.fill(0);
    }
    this.answered();
    this.checkWrapped(wrapped, 'wrapKey');
    this.lastKeyRef = wrapped.keyRef;
    // Views, not copies: no extra copy of the data key is left behind.
    const ciphertext = Buffer.from(wrapped.ciphertext.buffer, wrapped.ciphertext.byteOffset, wrapped.ciphertext.length);
    if (ciphertext.includes(Buffer.from(dataKey.buffer, dataKey.byteOffset, dataKey.length))) {
      throw errors.providerContract(this.id, 'the wrapped key contains the plaintext data key');
    }
    return { ciphertext: new Uint8Array(wrapped.ciphertext), keyRef: wrapped.keyRef };
  }

  async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
    let key: Uint8Array;
    try {
      key = await this.requests.time('unwrap', () => this.inner.unwrapKey(wrapped, { ...context }));
    } catch (err) {
      throw this.observe(providerFailure(this.id, 'unwrap a data key', err));
    }
    this.answered();
    if (!(key instanceof Uint8Array) || key.length !== DATA_KEY_LENGTH) {
      const found = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
      if (key instanceof Uint8Array) key.fill(0);
      throw errors.providerContract(this.id, `unwrapKey returned ${found} instead of 32 bytes`);
    }
    return key;
  }

  /** True when the provider re-wraps inside its key service (see `KeyProvider.rewrapKey`). */
  get canRewrap(): boolean {
    return this.inner.rewrapKey !== undefined;
  }

  /** Re-wrap a data key this provider wrapped under its current key, inside the key service. */
  async rewrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<WrappedKey> {
    if (this.inner.rewrapKey === undefined) throw errors.internal(`provider ${this.id} cannot rewrap`);
    let rewrapped: WrappedKey;
    const rewrap = this.inner.rewrapKey.bind(this.inner);
    try {
      rewrapped = await this.requests.time('rewrap', () => rewrap(wrapped, { ...context }));
    } catch (err) {
      throw this.observe(providerFailure(this.id, 're-wrap a data key', err));
    }
    this.answered();
    this.checkWrapped(rewrapped, 'rewrapKey');
    this.lastKeyRef = rewrapped.keyRef;
    return { ciphertext: new Uint8Array(rewrapped.ciphertext), keyRef: rewrapped.keyRef };
  }

  private checkWrapped(wrapped: WrappedKey, method: string): void {
    if (!(wrapped?.ciphertext instanceof Uint8Array) || wrapped.ciphertext.length === 0) {
      throw errors.providerContract(this.id, `${method} returned no ciphertext bytes`);
    }
    if (typeof wrapped.keyRef !== 'string' || wrapped.keyRef.length === 0 || wrapped.keyRef.length > 2048) {
      throw errors.providerContract(this.id, `${method} returned no keyRef string (1 to 2048 characters)`);
    }
  }

  /**
   * The provider's health: its health check (if it has one) runs at most once per `maxAgeMs`;
   * callers in between get the last answer or share the probe in flight. A check that fails in any
   * way (a key that is missing, disabled or of the wrong kind included) or does not answer within
   * HEALTH_TIMEOUT_MS is unhealthy. Never throws.
   */
  health(maxAgeMs = 0): Promise<ProviderHealth> {
    const check = this.inner.health?.bind(this.inner);
    if (check === undefined) return Promise.resolve(this.lastHealth);
    if (this.probe !== undefined) return this.probe;
    if (Date.now() - this.probedAt < maxAgeMs) return Promise.resolve(this.lastHealth);
    this.probe = this.runProbe(check).finally(() => {
      this.probedAt = Date.now();
      this.probe = undefined;
    });
    return this.probe;
  }

  private async runProbe(check: () => Promise<void>): Promise<ProviderHealth> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`its health check did not answer within ${HEALTH_TIMEOUT_MS / 1000}s`)),
        HEALTH_TIMEOUT_MS,
      ).unref();
    });
    try {
      await Promise.race([this.requests.time('health', check), hung]);
      this.answered();
    } catch (err) {
      const failure = providerFailure(this.id, 'pass its health check', err);
      this.lastHealth = { healthy: false, reason: failure.message, code: failure.code };
    } finally {
      clearTimeout(timer);
    }
    return this.lastHealth;
  }

  private answered(): void {
    this.lastHealth = { healthy: true };
  }

  /** What the operator must know although the provider works (see `KeyProvider.warnings`). */
  get warnings(): readonly string[] {
    return this.inner.warnings ?? [];
  }

  describe(): Readonly<Record<string, string | number | boolean>> {
    return this.inner.describe?.() ?? {};
  }

  /** What `rotate-encryption-key` can do with this provider. */
  get rotation(): KeyRotationKind {
    return this.inner.rotation?.kind ?? 'none';
  }

  /** The keyRef new wraps get, when the provider declares it. */
  get currentKeyRef(): string | undefined {
    return this.inner.currentKeyRef;
  }

  /** Whether the provider holds the key `keyRef` (false when it cannot tell). */
  holdsKey(keyRef: string): boolean {
    return this.inner.holdsKey?.(keyRef) ?? false;
  }

  /** Remove the key the provider made at this start, if it made one; returns whether it did. */
  async discardNewKey(): Promise<boolean> {
    return (
      (await this.inner.discardNewKey?.().catch((err: unknown) => {
        throw providerFailure(this.id, 'remove the key it made', err);
      })) ?? false
    );
  }

  /** Switch to a new provider key (key-file version, passphrase); this instance then uses it. */
  async rotateKey(newPassphrase?: string): Promise<void> {
    const rotation = this.inner.rotation;
    if (rotation === undefined) {
      throw errors.usage(
        `Provider ${this.id} has no key of its own to rotate.`,
        "Rotate the key in the provider's service, then run 'secrets-migration re-encrypt-data-keys'.",
        { details: { provider: this.id } },
      );
    }
    if (rotation.kind === 'passphrase' && newPassphrase === undefined) {
      throw errors.usage(`Provider ${this.id} rotates to a new passphrase, and none was given.`, 'Give one.', {
        details: { provider: this.id },
      });
    }
    const next = await (rotation.kind === 'passphrase'
      ? rotation.rotate(newPassphrase ?? '')
      : rotation.rotate()
    ).catch((err: unknown) => {
      throw providerFailure(this.id, 'rotate its key', err);
    });
    const old = this.inner;
    this.inner = next;
    await old.close?.();
  }

  /**
   * For a provider that keeps old keys: which of `dataKeys` do not unwrap with its current key
   * alone (each is unwrapped, its stored keyRef is not trusted). Refused as a usage error by a
   * provider that keeps no old keys or cannot show which key a data key needs.
   */
  async needingOldKeys(dataKeys: readonly DataKeyCheck[]): Promise<DataKeyCheck[]> {
    const rotation = this.inner.rotation;
    if (rotation?.kind !== 'generated-key' || this.currentKeyRef === undefined) {
      throw errors.usage(
        `Provider ${this.id} keeps no old keys of its own: there is nothing to prune.`,
        '--prune is for a key file that rotate-encryption-key gave new versions.',
        { details: { provider: this.id } },
      );
    }
    if (rotation.currentKeyOnly === undefined) {
      throw errors.usage(
        `Provider ${this.id} cannot show which of its keys a data key needs: nothing was pruned.`,
        "Ask the provider's authors for currentKeyOnly() (see docs/PROVIDERS.md); keep the old keys meanwhile.",
        { details: { provider: this.id } },
      );
    }
    const alone = new CheckedProvider(this.id, this.type, rotation.currentKeyOnly());
    try {
      const needing: DataKeyCheck[] = [];
      for (const k of dataKeys) {
        const key = await alone.unwrapKey(k.wrapped, k.context).catch(() => undefined);
        if (key === undefined) needing.push(k);
        else key.fill(0);
      }
      return needing;
    } finally {
      await alone.close();
    }
  }

  /**
   * Remove the provider's old keys, after proving by unwrapping that none of `dataKeys` (every data
   * key that may need them) does: ATREST_KEY_IN_USE while one unwraps only with an old key, or (when
   * `required`) with none of the provider's keys. Returns the removed keyRefs.
   */
  async pruneKeys(dataKeys: readonly DataKeyCheck[]): Promise<readonly string[]> {
    const needing = await this.needingOldKeys(dataKeys);
    const old: string[] = [];
    const unreadable: string[] = [];
    for (const k of needing) {
      const key = await this.unwrapKey(k.wrapped, k.context).catch(() => undefined);
      if (key !== undefined) {
        key.fill(0);
        old.push(k.id);
      } else if (k.required) unreadable.push(k.id);
    }
    if (old.length > 0) {
      throw errors.keyInUse(
        `${old.length} data key(s) unwrap only with an old key of ${this.id} (first: ${old[0]}): nothing was pruned.`,
        'Re-wrap them first (atrest secrets-migration re-encrypt-data-keys), then prune again.',
        { details: { provider: this.id, dataKeys: old } },
      );
    }
    if (unreadable.length > 0) {
      throw errors.keyInUse(
        `${unreadable.length} data key(s) of ${this.id} unwrap with none of its keys (first: ${unreadable[0]}): ` +
          'an old key may be what they need, so nothing was pruned.',
        'Restore those data key rows from a backup (atrest status names the values under them), then prune again.',
        { details: { provider: this.id, dataKeys: unreadable } },
      );
    }
    const rotation = this.inner.rotation;
    const current = this.currentKeyRef;
    if (rotation?.kind !== 'generated-key' || current === undefined) throw errors.internal('rotation changed');
    return rotation.prune([current]).catch((err: unknown) => {
      throw providerFailure(this.id, 'prune its old keys', err);
    });
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  private observe(err: AtrestError): AtrestError {
    if (
      err.code === 'ATREST_PROVIDER_UNAVAILABLE' ||
      err.code === 'ATREST_PROVIDER_AUTH' ||
      err.code === 'ATREST_TLS' ||
      err.code === 'ATREST_PROVIDER_FAILED'
    ) {
      this.lastHealth = { healthy: false, reason: err.message, code: err.code };
    }
    return err;
  }
}
