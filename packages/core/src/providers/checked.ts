// Core's checks around every provider, ours or a third party's: pre- and post-conditions hold
// whatever the provider does (key lengths, no plaintext echoed, typed errors naming the provider).
import { AtrestError, errors, isAtrestError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { EncryptionContext, KeyProvider, RotateKeyOptions, WrappedKey } from './contract.js';

const DATA_KEY_LENGTH = 32;

/** Health as `status` reports it. */
export type ProviderHealth = { healthy: boolean; reason?: string; code?: string };

/**
 * Codes a provider may report without depending on core: a third party's plain error carrying one
 * of them as `code` becomes an AtrestError with that code; anything else is ATREST_PROVIDER_FAILED.
 */
const PROVIDER_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'ATREST_CONFIG_INVALID',
  'ATREST_PROVIDER_AUTH',
  'ATREST_PROVIDER_UNAVAILABLE',
  'ATREST_PROVIDER_FAILED',
  'ATREST_TLS',
  'ATREST_KEY_MISSING',
  'ATREST_KEY_MISMATCH',
  'ATREST_KEY_FILE_PERMISSIONS',
  'ATREST_KEY_FILE_INVALID',
  'ATREST_WRONG_KEY',
  'ATREST_USAGE',
]);

/** Whatever a provider threw, as an AtrestError naming the provider. */
export function providerFailure(id: string, op: string, err: unknown): AtrestError {
  if (isAtrestError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && PROVIDER_CODES.has(code)) {
    return new AtrestError(code as ErrorCode, message, { cause: err, details: { provider: id } });
  }
  return errors.providerFailed(
    `Provider ${id} failed to ${op}: ${message}`,
    "Read the cause; if it persists, report it to the provider's authors.",
    {
      cause: err,
      details: { provider: id },
    },
  );
}

function contract(id: string, what: string): AtrestError {
  return new AtrestError(
    'ATREST_PROVIDER_CONTRACT',
    `Provider ${id} broke the provider contract: ${what}. Report it to the provider's authors.`,
    { details: { provider: id } },
  );
}

/** A provider wrapped in core's checks. */
export class CheckedProvider {
  lastHealth: ProviderHealth = { healthy: true };

  constructor(
    readonly id: string,
    readonly type: string,
    private inner: KeyProvider,
  ) {}

  async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
    if (dataKey.length !== DATA_KEY_LENGTH) throw contract(this.id, `asked to wrap ${dataKey.length} bytes`);
    let wrapped: WrappedKey;
    try {
      wrapped = await this.inner.wrapKey(new Uint8Array(dataKey), { ...context });
    } catch (err) {
      throw this.observe(providerFailure(this.id, 'wrap a data key', err));
    }
    this.lastHealth = { healthy: true };
    if (!(wrapped?.ciphertext instanceof Uint8Array) || wrapped.ciphertext.length === 0)
      throw contract(this.id, 'wrapKey returned no ciphertext bytes');
    if (typeof wrapped.keyRef !== 'string' || wrapped.keyRef.length === 0 || wrapped.keyRef.length > 2048)
      throw contract(this.id, 'wrapKey returned no keyRef string (1 to 2048 characters)');
    if (Buffer.from(wrapped.ciphertext).includes(Buffer.from(dataKey)))
      throw contract(this.id, 'the wrapped key contains the plaintext data key');
    return { ciphertext: new Uint8Array(wrapped.ciphertext), keyRef: wrapped.keyRef };
  }

  async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
    let key: Uint8Array;
    try {
      key = await this.inner.unwrapKey(wrapped, { ...context });
    } catch (err) {
      throw this.observe(providerFailure(this.id, 'unwrap a data key', err));
    }
    this.lastHealth = { healthy: true };
    if (!(key instanceof Uint8Array) || key.length !== DATA_KEY_LENGTH)
      throw contract(
        this.id,
        `unwrapKey returned ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key} instead of 32 bytes`,
      );
    return key;
  }

  /** Run the provider's health check (if any); never throws. */
  async health(): Promise<ProviderHealth> {
    if (this.inner.health === undefined) return this.lastHealth;
    try {
      await this.inner.health();
      this.lastHealth = { healthy: true };
    } catch (err) {
      this.observe(providerFailure(this.id, 'pass its health check', err));
    }
    return this.lastHealth;
  }

  describe(): Readonly<Record<string, string | number | boolean>> {
    return this.inner.describe?.() ?? {};
  }

  get canRotate(): boolean {
    return this.inner.rotateKey !== undefined;
  }

  /** Switch to a new provider key (key-file version, passphrase); this instance then uses it. */
  async rotateKey(options: RotateKeyOptions): Promise<void> {
    if (this.inner.rotateKey === undefined) {
      throw new AtrestError(
        'ATREST_USAGE',
        `Provider ${this.id} has no key of its own to rotate: rotate the key in the provider's service, then run 'secrets-migration re-encrypt-data-keys'.`,
      );
    }
    const next = await this.inner.rotateKey(options).catch((err: unknown) => {
      throw providerFailure(this.id, 'rotate its key', err);
    });
    const old = this.inner;
    this.inner = next;
    await old.close?.();
  }

  /** Remove old provider keys nothing needs (see KeyProvider.pruneKeys). */
  async pruneKeys(keep: readonly string[]): Promise<readonly string[]> {
    if (this.inner.pruneKeys === undefined) {
      throw new AtrestError('ATREST_USAGE', `Provider ${this.id} keeps no old keys of its own to prune.`);
    }
    return this.inner.pruneKeys(keep).catch((err: unknown) => {
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
