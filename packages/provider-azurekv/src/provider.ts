// The `azurekv` key provider: data keys wrapped by an RSA key in Azure Key Vault, the caller's
// context bound by digest, the wrapping key version recorded in keyRef so unwrapping keeps
// working after the vault key is rotated. Every operation runs under the provider kit's bounded
// retries, the credential renewed when the token endpoint failed.
import { AsyncLocalStorage } from 'node:async_hooks';
import { timingSafeEqual } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { errors, withRetries } from '@atrest/core';
import type { AtrestError, EncryptionContext, KeyProvider, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import type { AzureKeyVaultConfig, AzureKeyVaultSettings } from './config.js';
import { parseAzureKeyVaultSettings } from './config.js';
import type { AttemptFailure, ProviderFacts, ProviderOperation } from './errors.js';
import { classifyFailure, isIdentityError } from './errors.js';
import type { ProviderHttpClient, TransportEvent } from './http-client.js';
import { createProviderHttpClient } from './http-client.js';
import type {
  AzureClientFactoryOptions,
  AzureCryptographyClient,
  AzureKeyVaultClients,
  AzureKeyVaultKey,
  AzureTokenCredential,
} from './client.js';
import { createSdkClients, createSdkCredential } from './client.js';
import type { KeyIdentifier } from './wrapped-key.js';
import {
  DATA_KEY_BYTES,
  WRAPPED_PLAINTEXT_BYTES,
  contextDigest,
  decodeWrapped,
  encodeWrapped,
  parseKeyIdentifier,
} from './wrapped-key.js';

/** What `createAzureKeyVaultProvider` may be given besides its create options. */
export type AzureKeyVaultProviderDeps = {
  /** Use this credential instead of the one the config describes (client secret or default chain). */
  readonly credential?: AzureTokenCredential;
  /** Make the Key Vault clients another way (default: @azure/keyvault-keys, imported at first use). */
  readonly createClients?: (options: AzureClientFactoryOptions) => AzureKeyVaultClients | Promise<AzureKeyVaultClients>;
};

type AttemptState = { readonly events: TransportEvent[] };

/** A credential and the clients built on it; renewed after a token endpoint failure. */
type ClientSet = {
  readonly clients: AzureKeyVaultClients;
  readonly generation: number;
  /** Cryptography clients by key version (each keeps its challenge state and token). */
  readonly crypto: Map<string, AzureCryptographyClient>;
};

const MAX_EVENTS = 32;

/**
 * A credential that hands out tokens only for this vault's resource: Key Vault's challenge names
 * the resource, and a vault host that is not under that resource's domain (or that resource
 * itself) must not be trusted with a token for it. This replaces the SDK's own check, which
 * cannot accept a vault whose resource is its own origin (private clouds, the emulator).
 */
function vaultScopedCredential(credential: AzureTokenCredential, facts: ProviderFacts): AzureTokenCredential {
  const vault = new URL(facts.vaultOrigin);
  return {
    getToken(scopes, options) {
      for (const scope of Array.isArray(scopes) ? scopes : [scopes]) {
        let resource: URL | undefined;
        try {
          resource = new URL(scope);
        } catch {
          resource = undefined;
        }
        const allowed =
          resource !== undefined &&
          resource.protocol === 'https:' &&
          (vault.hostname.endsWith(`.${resource.hostname}`) || resource.origin === vault.origin);
        if (!allowed) {
          return Promise.reject(
            errors.providerAuth(
              `Provider ${facts.providerId}: the vault ${facts.vaultOrigin} asked for a token for "${scope}", a ` +
                'resource it does not belong to; no token was sent.',
              'Check vault_uri.',
              { details: { provider: facts.providerId, vault: facts.vaultOrigin, scope } },
            ),
          );
        }
      }
      return credential.getToken(scopes, options);
    },
  };
}

/** Make an `azurekv` provider. Checks the section now; contacts nothing until the first operation. */
export async function createAzureKeyVaultProvider(
  options: ProviderCreateOptions<AzureKeyVaultConfig>,
  deps: AzureKeyVaultProviderDeps = {},
): Promise<KeyProvider> {
  const settings: AzureKeyVaultSettings = parseAzureKeyVaultSettings(options.id, options.config, options.logger);
  const facts: ProviderFacts = {
    providerId: options.id,
    vaultOrigin: settings.vaultOrigin,
    keyName: settings.keyName,
    tenantId: settings.tenantId,
    clientId: settings.clientId,
    caFile: settings.caFile,
    usesClientSecret: deps.credential === undefined && settings.clientSecret !== undefined,
  };
  const attempts = new AsyncLocalStorage<AttemptState>();
  const closing = new AbortController();
  let httpClient: ProviderHttpClient | undefined;
  let current: Promise<ClientSet> | undefined;
  let generation = 0;
  let lastWrapVersion: string | undefined;

  function checkOpen(): void {
    if (closing.signal.aborted) {
      throw errors.closed(`Provider ${options.id}`);
    }
  }

  async function makeClients(): Promise<ClientSet> {
    const made = ++generation;
    httpClient ??= createProviderHttpClient({
      ...(settings.caCertificates ? { ca: [...rootCertificates, ...settings.caCertificates] } : {}),
      requestTimeoutMs: settings.retry.requestTimeoutMs,
      observe: (event) => {
        // Kept per attempt (the last few): errors are named after what the wire showed.
        const state = attempts.getStore();
        state?.events.push(event);
        if (state && state.events.length > MAX_EVENTS) state.events.shift();
      },
    });
    const credential =
      deps.credential ??
      (await createSdkCredential(options.id, {
        tenantId: settings.tenantId,
        clientId: settings.clientId,
        clientSecret: settings.clientSecret,
        authorityHost: settings.authorityHost,
        httpClient,
      }));
    const factoryOptions: AzureClientFactoryOptions = {
      vaultUrl: settings.vaultUrl,
      credential: vaultScopedCredential(credential, facts),
      clientOptions: {
        httpClient,
        retryOptions: { maxRetries: 0 },
        disableChallengeResourceVerification: true,
        userAgentOptions: { userAgentPrefix: 'atrest-provider-azurekv' },
      },
    };
    const clients = await (deps.createClients
      ? deps.createClients(factoryOptions)
      : createSdkClients(options.id, factoryOptions));
    return { clients, generation: made, crypto: new Map() };
  }

  function getClients(): Promise<ClientSet> {
    current ??= makeClients();
    const made = current;
    made.catch(() => {
      // A failed start (SDK not loadable, bad credential options) is tried again next time.
      if (current === made) current = undefined;
    });
    return made;
  }

  /** Drop the credential and clients of `set` (if still current); the next attempt makes new ones. */
  function renew(set: ClientSet): void {
    if (set.generation === generation) current = undefined;
  }

  /** Run `fn` with the kit's bounded retries of transient failures; every failure leaves as an AtrestError. */
  async function run<T>(
    operation: ProviderOperation,
    fn: (c: ClientSet, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    // Made before the first attempt: loading the SDK must not count against request_timeout.
    checkOpen();
    await getClients();
    let state: AttemptState = { events: [] };
    let used: ClientSet | undefined;
    return withRetries({
      providerId: options.id,
      operation,
      target: new URL(settings.vaultOrigin).host,
      settings: settings.retry,
      logger: options.logger,
      signal: closing.signal,
      checkOpen,
      attempt(signal) {
        state = { events: [] };
        used = undefined;
        return attempts.run(state, async () => {
          const set = await getClients();
          used = set;
          return fn(set, signal);
        });
      },
      classify(err) {
        const failure: AttemptFailure = classifyFailure(err, state.events, facts, operation);
        if (used && failure.retry && failure.renewCredential) renew(used);
        else if (used && !failure.retry && used.generation !== generation && isIdentityError(err)) {
          // The credential this attempt used was renewed after a token endpoint failure; what it
          // said may be MSAL replaying that failure, so the new credential gets its own try.
          return { retry: true, cause: 'token endpoint failing (credential renewed)', error: failure.error };
        }
        return failure;
      },
    });
  }

  /** Check a fetched key can do `operations`; returns its parsed identifier. */
  function usableKey(key: AzureKeyVaultKey, operations: readonly string[]): KeyIdentifier {
    const kid = key.id === undefined ? undefined : parseKeyIdentifier(key.id);
    const where = `key ${settings.keyName} in vault ${settings.vaultOrigin}`;
    const failed = (problem: string, fix = 'Fix the key in the vault.'): AtrestError =>
      errors.providerFailed(`Provider ${options.id}: ${where} ${problem}`, fix, {
        details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName },
      });
    if (!kid || kid.name.toLowerCase() !== settings.keyName.toLowerCase())
      throw failed(`came back with an unexpected identifier (${key.id ?? 'none'})`);
    if (key.properties.enabled === false)
      throw failed(`(version ${kid.version}) is disabled`, 'Enable it in the vault.');
    const now = Date.now();
    if (key.properties.notBefore && key.properties.notBefore.getTime() > now)
      throw failed(`(version ${kid.version}) is not valid before ${key.properties.notBefore.toISOString()}`);
    if (key.properties.expiresOn && key.properties.expiresOn.getTime() <= now)
      throw failed(
        `(version ${kid.version}) expired at ${key.properties.expiresOn.toISOString()}`,
        'Rotate the key or extend its expiry.',
      );
    if (key.keyType !== undefined && key.keyType !== 'RSA' && key.keyType !== 'RSA-HSM')
      throw failed(`is a ${key.keyType} key; wrapping needs an RSA key`);
    const missing = operations.filter((op) => key.keyOperations !== undefined && !key.keyOperations.includes(op));
    if (missing.length > 0) {
      throw failed(`does not allow ${missing.join(' and ')}`, 'Add the operation(s) to the key.');
    }
    return kid;
  }

  /** The cryptography client of a key version, made once per client set. */
  function cryptoClient(set: ClientSet, version: string, key?: AzureKeyVaultKey): AzureCryptographyClient {
    const cacheKey = version.toLowerCase();
    let client = set.crypto.get(cacheKey);
    if (!client) {
      client = set.clients.cryptographyClient(key ?? `${settings.vaultOrigin}/keys/${settings.keyName}/${version}`);
      set.crypto.set(cacheKey, client);
    }
    return client;
  }

  const wrongKey = (problem: string, fix: string, keyRef: string): AtrestError =>
    errors.wrongKey(
      `Provider ${options.id} (key ${settings.keyName} in vault ${settings.vaultOrigin}) cannot unwrap this data ` +
        `key: ${problem}.`,
      fix,
      { details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName, keyRef } },
    );
  const decryptFailed = (problem: string): AtrestError =>
    errors.decryptFailed(`Provider ${options.id}: ${problem}.`, 'Restore the data key row from your backup.', {
      details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName },
    });

  return {
    async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
      checkOpen();
      const plaintext = Buffer.concat([dataKey, contextDigest(context)]);
      try {
        return await run('wrap', async (c, signal) => {
          // The current version is looked up on every wrap (wraps are rare: one per new data key),
          // so a version rotated in the vault takes over without a restart.
          const key = await c.clients.getKey(settings.keyName, {
            abortSignal: signal,
            ...(settings.keyVersion ? { version: settings.keyVersion } : {}),
          });
          const kid = usableKey(key, ['wrapKey']);
          const result = await cryptoClient(c, kid.version, key).wrapKey(settings.algorithm, plaintext, {
            abortSignal: signal,
          });
          const used = result.keyID === undefined ? undefined : parseKeyIdentifier(result.keyID);
          if (result.keyID !== undefined && used?.version.toLowerCase() !== kid.version.toLowerCase()) {
            throw errors.providerFailed(
              `Provider ${options.id}: the vault wrapped with ${result.keyID}, not the version looked up ` +
                `(${kid.version}).`,
              'Check that vault_uri is an Azure Key Vault.',
              { details: { provider: options.id } },
            );
          }
          lastWrapVersion = kid.version;
          return {
            ciphertext: encodeWrapped(settings.algorithm, result.result),
            keyRef: `${settings.vaultOrigin}/keys/${kid.name}/${kid.version}`,
          };
        });
      } finally {
        plaintext.fill(0);
      }
    },

    async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
      checkOpen();
      const ref = parseKeyIdentifier(wrapped.keyRef);
      // Checked before any request: a token is never sent to a host or key that keyRef names.
      if (!ref)
        throw wrongKey(
          `its keyRef "${wrapped.keyRef}" is not a versioned Key Vault key identifier`,
          'A keyRef of this provider is https://<vault>/keys/<name>/<version>: restore the data key row.',
          wrapped.keyRef,
        );
      if (ref.origin !== settings.vaultOrigin)
        throw wrongKey(
          `it was wrapped by a key in vault ${ref.origin}`,
          'Configure a provider for that vault.',
          wrapped.keyRef,
        );
      if (ref.name.toLowerCase() !== settings.keyName.toLowerCase())
        throw wrongKey(`it was wrapped by key ${ref.name}`, 'Configure a provider for that key.', wrapped.keyRef);
      const frame = decodeWrapped(wrapped.ciphertext);
      if (!frame)
        throw decryptFailed(
          `the wrapped data key (${wrapped.ciphertext.length} bytes) is damaged or was not written by the ` +
            'azurekv provider',
        );
      const result = await run('unwrap', (c, signal) =>
        cryptoClient(c, ref.version).unwrapKey(frame.algorithm, frame.rsaCiphertext, { abortSignal: signal }),
      );
      const plaintext = Buffer.from(result.result);
      result.result.fill(0);
      try {
        if (plaintext.length !== WRAPPED_PLAINTEXT_BYTES)
          throw decryptFailed(
            `the vault returned ${plaintext.length} bytes, not a wrapped data key; the wrapped key is damaged`,
          );
        if (!timingSafeEqual(plaintext.subarray(DATA_KEY_BYTES), contextDigest(context))) {
          throw decryptFailed(
            'the context does not match the one bound when the data key was wrapped (a data key copied to ' +
              'another record, or a damaged record)',
          );
        }
        return new Uint8Array(plaintext.subarray(0, DATA_KEY_BYTES));
      } finally {
        plaintext.fill(0);
      }
    },

    async health(): Promise<void> {
      checkOpen();
      await run('health', async (c, signal) => {
        const key = await c.clients.getKey(settings.keyName, {
          abortSignal: signal,
          ...(settings.keyVersion ? { version: settings.keyVersion } : {}),
        });
        usableKey(key, ['wrapKey', 'unwrapKey']);
      });
    },

    describe() {
      return {
        vault_uri: settings.vaultOrigin,
        key_id: settings.keyName,
        key_version: settings.keyVersion ?? lastWrapVersion ?? 'latest',
        algorithm: settings.algorithm,
        credential: deps.credential ? 'injected' : settings.clientSecret ? 'client secret' : 'default credential chain',
        ...(settings.tenantId ? { tenant_id: settings.tenantId } : {}),
        ...(settings.clientId ? { client_id: settings.clientId } : {}),
        ...(settings.authorityHost ? { authority_host: settings.authorityHost } : {}),
        ...(settings.caFile ? { ca_file: settings.caFile } : {}),
      };
    },

    async close(): Promise<void> {
      closing.abort();
      current = undefined;
      httpClient?.destroy();
    },
  };
}
