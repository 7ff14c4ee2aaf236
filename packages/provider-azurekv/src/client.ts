// The Azure SDK seen through the few calls the provider makes, typed structurally so tests and
// embedders can inject their own. The real @azure/keyvault-keys and @azure/identity are imported
// at first use only: an application on another provider never loads them. Only `import type`
// names the SDK here (erased at build time).
import { errors } from '@atrest/core';
import type { AtrestError } from '@atrest/core';
import type { CryptographyClientOptions, KeyClientOptions } from '@azure/keyvault-keys';
import type { AccessToken, DefaultAzureCredentialClientIdOptions, GetTokenOptions } from '@azure/identity';
import type { WrapAlgorithm } from './config.js';
import type { SdkHttpClient } from './http-client.js';

/** What the provider needs of a credential (an @azure/identity TokenCredential fits). */
export type AzureTokenCredential = {
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null>;
};

/** What the provider reads of a Key Vault key (an @azure/keyvault-keys KeyVaultKey fits). */
export type AzureKeyVaultKey = {
  /** The versioned key identifier. */
  readonly id?: string;
  readonly name: string;
  readonly keyType?: string;
  readonly keyOperations?: readonly string[];
  readonly properties: {
    readonly version?: string;
    readonly enabled?: boolean;
    readonly notBefore?: Date;
    readonly expiresOn?: Date;
  };
};

/** Per-call options the provider passes. */
export type AzureCallOptions = { readonly abortSignal?: AbortSignal };

/** What the provider needs of a cryptography client bound to one key version. */
export type AzureCryptographyClient = {
  wrapKey(
    algorithm: WrapAlgorithm,
    key: Uint8Array,
    options?: AzureCallOptions,
  ): Promise<{ result: Uint8Array; keyID?: string }>;
  unwrapKey(
    algorithm: WrapAlgorithm,
    encryptedKey: Uint8Array,
    options?: AzureCallOptions,
  ): Promise<{ result: Uint8Array; keyID?: string }>;
};

/** The Key Vault clients of one vault. */
export type AzureKeyVaultClients = {
  /** Get a key (its latest version, or `version`). */
  getKey(name: string, options: AzureCallOptions & { readonly version?: string }): Promise<AzureKeyVaultKey>;
  /** A cryptography client for a fetched key, or a versioned key identifier. */
  cryptographyClient(key: AzureKeyVaultKey | string): AzureCryptographyClient;
};

/** What the default factories receive. */
export type AzureClientFactoryOptions = {
  readonly vaultUrl: string;
  readonly credential: AzureTokenCredential;
  /** Carries the provider's HTTP client (CA, timeouts); retries are the provider's own. */
  readonly clientOptions: CryptographyClientOptions & KeyClientOptions;
};

/** What the default credential factory receives. */
export type AzureCredentialFactoryOptions = {
  readonly tenantId: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly authorityHost: string | undefined;
  readonly httpClient: SdkHttpClient;
};

type KeyVaultKeysModule = typeof import('@azure/keyvault-keys');
type IdentityModule = typeof import('@azure/identity');

let keysModule: Promise<KeyVaultKeysModule> | undefined;
let identityModule: Promise<IdentityModule> | undefined;

function notLoadable(providerId: string, pkg: string, err: unknown): AtrestError {
  const why = err instanceof Error ? err.message : String(err);
  return errors.providerNotInstalled(
    `Provider ${providerId} could not load ${pkg} (${why}).`,
    'Install it where @atrest/provider-azurekv is installed: pnpm add @azure/keyvault-keys @azure/identity',
    { cause: err, details: { provider: providerId, package: pkg } },
  );
}

/** Import @azure/keyvault-keys (once). */
export async function loadKeyVaultKeys(providerId: string): Promise<KeyVaultKeysModule> {
  keysModule ??= import('@azure/keyvault-keys');
  try {
    return await keysModule;
  } catch (err) {
    throw notLoadable(providerId, '@azure/keyvault-keys', err);
  }
}

/** Import @azure/identity (once). */
export async function loadIdentity(providerId: string): Promise<IdentityModule> {
  identityModule ??= import('@azure/identity');
  try {
    return await identityModule;
  } catch (err) {
    throw notLoadable(providerId, '@azure/identity', err);
  }
}

/** The real Key Vault clients, on @azure/keyvault-keys. */
export async function createSdkClients(
  providerId: string,
  options: AzureClientFactoryOptions,
): Promise<AzureKeyVaultClients> {
  const { KeyClient, CryptographyClient } = await loadKeyVaultKeys(providerId);
  type SdkKey = Awaited<ReturnType<InstanceType<typeof KeyClient>['getKey']>>;
  const keyClient = new KeyClient(options.vaultUrl, options.credential, { ...options.clientOptions });
  // Keys this factory fetched, so a cryptography client is built from the SDK's own object.
  const fetched = new WeakMap<AzureKeyVaultKey, SdkKey>();
  return {
    async getKey(name, callOptions) {
      const key = await keyClient.getKey(name, {
        ...(callOptions.version === undefined ? {} : { version: callOptions.version }),
        ...(callOptions.abortSignal === undefined ? {} : { abortSignal: callOptions.abortSignal }),
      });
      fetched.set(key, key);
      return key;
    },
    cryptographyClient(key) {
      const source = typeof key === 'string' ? key : (fetched.get(key) ?? key.id);
      if (source === undefined)
        throw new Error('A Key Vault key without an identifier cannot be used for cryptography');
      const client = new CryptographyClient(source, options.credential, { ...options.clientOptions });
      return {
        wrapKey: (algorithm, data, callOptions) =>
          client.wrapKey(algorithm, data, callOptions?.abortSignal ? { abortSignal: callOptions.abortSignal } : {}),
        unwrapKey: (algorithm, data, callOptions) =>
          client.unwrapKey(algorithm, data, callOptions?.abortSignal ? { abortSignal: callOptions.abortSignal } : {}),
      };
    },
  };
}

/**
 * The real credential: a client secret when one is configured, else the Azure default credential
 * chain (environment, workload identity, managed identity, then developer tools; narrow it with
 * AZURE_TOKEN_CREDENTIALS=prod). SDK retries are off: the provider retries whole operations.
 */
export async function createSdkCredential(
  providerId: string,
  options: AzureCredentialFactoryOptions,
): Promise<AzureTokenCredential> {
  const { ClientSecretCredential, DefaultAzureCredential } = await loadIdentity(providerId);
  const authorityHost = options.authorityHost ?? (process.env['AZURE_AUTHORITY_HOST'] || undefined);
  const common = {
    httpClient: options.httpClient,
    retryOptions: { maxRetries: 0 },
    // An authority host set by the operator is trusted as given: MSAL would otherwise validate it
    // by asking login.microsoftonline.com, which fails for sovereign, private or emulated clouds.
    ...(authorityHost === undefined ? {} : { authorityHost, disableInstanceDiscovery: true }),
  };
  if (options.clientSecret !== undefined) {
    if (options.tenantId === undefined || options.clientId === undefined) {
      throw errors.internal(`${providerId}: a client secret without tenant_id and client_id passed the config checks`);
    }
    return new ClientSecretCredential(options.tenantId, options.clientId, options.clientSecret, common);
  }
  const chainOptions: DefaultAzureCredentialClientIdOptions = {
    ...common,
    ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
    ...(options.clientId === undefined
      ? {}
      : { managedIdentityClientId: options.clientId, workloadIdentityClientId: options.clientId }),
  };
  return new DefaultAzureCredential(chainOptions);
}
