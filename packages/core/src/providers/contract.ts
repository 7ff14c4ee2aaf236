// The provider contract: what a key provider package implements. A provider wraps and unwraps
// 256-bit data keys; it never sees application data.
import type { Logger } from '../logger.js';

/** The provider API version this core speaks. A definition with another `apiVersion` is refused. */
export const PROVIDER_API_VERSION = 1;

/**
 * Public facts bound to a wrapped data key (data key id, label). A provider must make unwrapping
 * fail when the context differs from the one given at wrap time (KMS encryption context, AAD…).
 */
export type EncryptionContext = Readonly<Record<string, string>>;

/** A data key as wrapped by a provider. */
export type WrappedKey = {
  /** The provider's opaque bytes; stored as is. */
  readonly ciphertext: Uint8Array;
  /**
   * Public reference to the provider key (and version) that wrapped it: a key-file fingerprint, a
   * KMS key ARN, a Key Vault key version URL. Shown by `status`; never secret.
   */
  readonly keyRef: string;
};

/**
 * How a provider rotates a key of its own (`rotate-encryption-key`). A provider whose key lives in
 * a service has none: the key is rotated there, then `secrets-migration re-encrypt-data-keys` runs.
 */
export type KeyRotation =
  | {
      /** The provider generates the new key itself and keeps the old ones for unwrapping (a key file). */
      readonly kind: 'generated-key';
      /** Make a new key the one that wraps; returns the provider to use from now on. */
      rotate(): Promise<KeyProvider>;
      /**
       * Remove the old keys whose keyRef is not in `keep` (the current key always stays); returns the
       * removed keyRefs. Core calls it only when no data key needs an old key.
       */
      prune(keep: readonly string[]): Promise<readonly string[]>;
      /**
       * The provider as it will be once pruned: its current key alone, in memory (nothing written;
       * `close()` releases it). Core unwraps every data key with it before it prunes, rather than
       * trusting the key references stored beside them; without it, `--prune` is refused.
       */
      currentKeyOnly?(): KeyProvider;
    }
  | {
      /** The operator gives the new secret (a passphrase); no old key is kept. */
      readonly kind: 'passphrase';
      /** Returns the provider that wraps under `newPassphrase` from now on. */
      rotate(newPassphrase: string): Promise<KeyProvider>;
    };

/** The kinds of `KeyRotation`, and `none` for a provider without one. */
export type KeyRotationKind = KeyRotation['kind'] | 'none';

/** A configured, ready provider instance. Core's guard checks everything it returns. */
export type KeyProvider = {
  /** Wrap a 32-byte data key, binding `context`. */
  wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey>;
  /** Unwrap what `wrapKey` returned, with the same `context`; returns the 32-byte data key. */
  unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array>;
  /**
   * Optional: wrap what `wrapKey` returned under the provider's current key inside the key service,
   * the data key never leaving it in the clear (Vault Transit's rewrap). `re-encrypt-data-keys` uses
   * it for the data keys this provider wrapped; without it, they are unwrapped and wrapped again.
   */
  rewrapKey?(wrapped: WrappedKey, context: EncryptionContext): Promise<WrappedKey>;
  /**
   * The keyRef `wrapKey` returns now, for a provider that knows it without asking a service (a
   * key-file fingerprint). Key rotation and `--prune` tell the current key from old ones by it.
   */
  readonly currentKeyRef?: string;
  /**
   * For a provider whose keys are at hand (a key file): whether the key `keyRef` is among them. Core
   * tells a node whose key file lacks the key the database moved to from one that rotated past it.
   */
  holdsKey?(keyRef: string): boolean;
  /**
   * Remove the key `create` made at this start (first boot), if it made one; returns whether it
   * removed one. Core calls it when the database belongs to another key already (another node
   * booted first), so that no unused key is left behind.
   */
  discardNewKey?(): Promise<boolean>;
  /** Set when the provider rotates a key of its own; see `KeyRotation`. */
  readonly rotation?: KeyRotation;
  /** Optional health check: resolves when the provider is usable, throws an AtrestError otherwise. */
  health?(): Promise<void>;
  /** Optional: facts for `status` (key path, key id…); never secret. */
  describe?(): Readonly<Record<string, string | number | boolean>>;
  /**
   * Optional: what the operator must know although the provider works (a well-known passphrase, a
   * deprecated setting), in one sentence each; `status` shows them and health is degraded by them.
   */
  readonly warnings?: readonly string[];
  /** Release connections, timers and key material. */
  close?(): Promise<void>;
};

/** One key of a provider's configuration section, in convict's schema form. */
export type ProviderConfigKey = {
  /** What the key means, shown by `config show` and in errors. */
  readonly doc: string;
  /**
   * A convict format: a type constructor (String, Number, Boolean), an array of allowed values, or a
   * format name ('duration', 'nat', 'url', 'port').
   */
  readonly format: unknown;
  /** The default value; `''` for "not set". */
  readonly default: unknown;
  /** True for secrets (client secrets, secret access keys): redacted everywhere. */
  readonly sensitive?: boolean;
  /**
   * When the key must have a value (defaults count, an empty value does not): `'always'` in every
   * section of the type; `'in use'` only in a section that is the encryption provider or an
   * available one, so that a host file may keep an unused section without it.
   */
  readonly required?: 'always' | 'in use';
  /** The least number of characters (code points, as people count them), checked where the section is in use. */
  readonly minLength?: number;
  /** What messages call the value ("has no passphrase"); default: the key itself. */
  readonly label?: string;
};

/** The schema of a provider's `[security.encryption.<type>.<name>]` section. */
export type ProviderConfigSchema = Readonly<Record<string, ProviderConfigKey>>;

/** What `create` receives. */
export type ProviderCreateOptions<C = Record<string, unknown>> = {
  /** `<type>.<name>`, e.g. `awskms.main`. */
  readonly id: string;
  readonly type: string;
  readonly name: string;
  /** The validated section, keys as in the schema. */
  readonly config: C;
  /** The application name (`atrest` by default); sets the environment prefix and default paths. */
  readonly app: string;
  /** The application's directory. */
  readonly appRoot: string;
  /**
   * True on first boot only: the database holds no data key of any provider, and atrest was opened
   * to create what is missing (not by a command that only reads). A local provider may create its
   * key then, and never otherwise.
   */
  readonly firstUse: boolean;
  readonly logger: Logger;
};

/** What a provider package exports, as `providers` (an array of these). */
export type ProviderDefinition<C = Record<string, unknown>> = {
  /** Must equal PROVIDER_API_VERSION. */
  readonly apiVersion: number;
  /** The `<type>` of `[security.encryption.<type>.<name>]`. */
  readonly type: string;
  /** One line for `status` and help. */
  readonly description: string;
  /** The section's keys; an unknown key in the section is a configuration error. */
  readonly configSchema: ProviderConfigSchema;
  /**
   * What the configuration must know of this type before any section names it: see
   * `SharedConfigDeclaration`. Read from the built-in packages only, before the configuration is.
   */
  readonly sharedConfig?: SharedConfigDeclaration;
  /** Build a provider from its validated section. */
  create(options: ProviderCreateOptions<C>): Promise<KeyProvider>;
};

/**
 * A key outside the provider's own section that is one of its sections' keys under another name:
 * `[security] secret_key` and `<APP>_ENCRYPTION_SECRET_KEY` are `secret_key` of `secret_key.default`.
 * A value given both ways in one source must be the same. Shared keys are text.
 */
export type SharedConfigKey = {
  /** The `<name>` of the section it feeds, e.g. `default`. */
  readonly section: string;
  /** The key of `configSchema` it sets. */
  readonly key: string;
  /** Its dotted path in a section atrest shares with the host (`security.secret_key`): read there, listed under it. */
  readonly ini?: string;
  /** Its environment variables after `<APP>_` (`ENCRYPTION_SECRET_KEY`); the first is the one messages name. */
  readonly env: readonly string[];
  /** What it is, for `config show`. */
  readonly doc: string;
  /** True for a secret: redacted everywhere. */
  readonly sensitive?: boolean;
  /** The key's value when no source sets it, for the application `app` (a key file under `/srv`). */
  readonly default?: (app: string) => string;
};

/**
 * How the host's configuration reaches a provider before its package is asked for a schema: the
 * shared keys that feed its sections, other products' ids of its sections, and when it is the
 * encryption provider by default. Core knows none of this itself.
 */
export type SharedConfigDeclaration = {
  readonly keys?: readonly SharedConfigKey[];
  /** Ids another product writes for one of its sections, to the section's name: `{ 'secretKey.v1': 'default' }`. */
  readonly idAliases?: Readonly<Record<string, string>>;
  /**
   * The section that is the encryption provider when `encryption_provider` is not set: `'configured'`
   * when a source sets one of that section's keys (a passphrase), `'otherwise'` when no provider's
   * `'configured'` rule holds. The first rule that holds, in the built-in types' order, wins.
   */
  readonly defaultProvider?: { readonly section: string; readonly when: 'configured' | 'otherwise' };
};

/** Identity helper that types a definition (and lets core evolve the shape checks in one place). */
export function defineProvider<C = Record<string, unknown>>(definition: ProviderDefinition<C>): ProviderDefinition<C> {
  return definition;
}
