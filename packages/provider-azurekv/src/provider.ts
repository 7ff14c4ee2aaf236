// The `azurekv` key provider: data keys wrapped by an RSA key in Azure Key Vault, the caller's
// context bound by digest, the wrapping key version recorded in keyRef so unwrapping keeps
// working after the vault key is rotated. Every operation runs under a bounded retry loop.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomInt, timingSafeEqual } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { AtrestError, silentLogger } from '@atrest/core';
import type { EncryptionContext, KeyProvider, Logger, WrappedKey } from '@atrest/core';
import type { AzureKeyVaultConfig, AzureKeyVaultSettings } from './config.js';
import { readSettings } from './config.js';
import type { AttemptFailure, ProviderFacts, ProviderOperation } from './errors.js';
import { AttemptTimeoutError, classifyFailure, isIdentityError } from './errors.js';
import type { ProviderHttpClient, TransportEvent } from './http-client.js';
import { createProviderHttpClient } from './http-client.js';
import type {
  AzureClientFactoryOptions,
  AzureCryptographyClient,
  AzureKeyVaultClients,
  AzureKeyVaultKey,
  AzureTokenCredential,
} from './sdk.js';
import { createSdkClients, createSdkCredential } from './sdk.js';
import type { KeyIdentifier } from './wrapped-key.js';
import {
  DATA_KEY_BYTES,
  WRAPPED_PLAINTEXT_BYTES,
  contextDigest,
  decodeWrapped,
  encodeWrapped,
  parseKeyIdentifier,
} from './wrapped-key.js';

export type AzureKeyVaultProviderOptions = {
  /** `azurekv.<name>`. */
  readonly id: string;
  /** The section, as validated by core. */
  readonly config: AzureKeyVaultConfig;
  readonly logger?: Logger;
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
            new AtrestError(
              'ATREST_PROVIDER_AUTH',
              `Provider ${facts.providerId}: the vault ${facts.vaultOrigin} asked for a token for "${scope}", a resource it does not belong to; no token was sent. Check vault_uri.`,
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
export async function createAzureKeyVaultProvider(options: AzureKeyVaultProviderOptions): Promise<KeyProvider> {
  const settings: AzureKeyVaultSettings = readSettings(options.id, options.config);
  const logger = options.logger ?? silentLogger;
  const facts: ProviderFacts = {
    providerId: options.id,
    vaultOrigin: settings.vaultOrigin,
    keyName: settings.keyName,
    tenantId: settings.tenantId,
    clientId: settings.clientId,
    caFile: settings.caFile,
    usesClientSecret: options.credential === undefined && settings.clientSecret !== undefined,
  };
  const attempts = new AsyncLocalStorage<AttemptState>();
  const closing = new AbortController();
  let httpClient: ProviderHttpClient | undefined;
  let current: Promise<ClientSet> | undefined;
  let generation = 0;
  let lastWrapVersion: string | undefined;

  function checkOpen(): void {
    if (closing.signal.aborted) {
      throw new AtrestError('ATREST_CLOSED', `Provider ${options.id} is closed`, { details: { provider: options.id } });
    }
  }

  async function makeClients(): Promise<ClientSet> {
    const made = ++generation;
    httpClient ??= createProviderHttpClient({
      ...(settings.caCertificates ? { ca: [...rootCertificates, ...settings.caCertificates] } : {}),
      requestTimeoutMs: settings.requestTimeoutMs,
      observe: (event) => {
        // Kept per attempt (the last few): errors are named after what the wire showed.
        const state = attempts.getStore();
        state?.events.push(event);
        if (state && state.events.length > MAX_EVENTS) state.events.shift();
      },
    });
    const credential =
      options.credential ??
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
    const clients = await (options.createClients
      ? options.createClients(factoryOptions)
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

  /** Run one attempt under `request_timeout`, with its own abort signal. */
  async function attempt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const onClose = (): void => controller.abort();
    closing.signal.addEventListener('abort', onClose);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new AttemptTimeoutError(settings.requestTimeoutMs));
      }, settings.requestTimeoutMs);
    });
    const work = fn(controller.signal);
    // The losing side of the race must not become an unhandled rejection.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      closing.signal.removeEventListener('abort', onClose);
    }
  }

  /** Run `fn` with bounded retries of transient failures; every failure leaves as an AtrestError. */
  async function run<T>(
    operation: ProviderOperation,
    fn: (c: ClientSet, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let n = 0; ; n += 1) {
      checkOpen();
      const state: AttemptState = { events: [] };
      let used: ClientSet | undefined;
      let failure: AttemptFailure;
      try {
        return await attempts.run(state, async () => {
          const set = await getClients();
          used = set;
          return attempt((signal) => fn(set, signal));
        });
      } catch (err) {
        checkOpen();
        failure = classifyFailure(err, state.events, facts, operation);
        if (used && failure.retryable && failure.renewCredential) {
          renew(used);
        } else if (used && !failure.retryable && used.generation !== generation && isIdentityError(err)) {
          // The credential this attempt used was renewed after a token endpoint failure; what it
          // said may be MSAL replaying that failure, so the new credential gets its own try.
          failure = { retryable: true, cause: 'token endpoint failing (credential renewed)', error: failure.error };
        }
      }
      if (!failure.retryable) throw failure.error;
      if (n >= settings.maxRetries) {
        throw new AtrestError(
          'ATREST_PROVIDER_UNAVAILABLE',
          `Provider ${options.id}: Azure Key Vault ${settings.vaultOrigin} is unavailable; ${operation} failed ${n + 1} time${n === 0 ? '' : 's'}, last: ${failure.cause}. Check network access to the vault and the token endpoint, or retry later.`,
          {
            cause: failure.error,
            details: {
              provider: options.id,
              vault: settings.vaultOrigin,
              operation,
              attempts: n + 1,
              lastCause: failure.cause,
            },
          },
        );
      }
      const backoff = Math.min(settings.maxRetryDelayMs, settings.retryDelayMs * 2 ** n);
      const jittered = Math.floor(backoff / 2) + randomInt(Math.floor(backoff / 2) + 1);
      const delay = Math.min(settings.maxRetryDelayMs, Math.max(jittered, failure.retryAfterMs ?? 0));
      logger.warn('azurekv: retrying after a transient failure', {
        provider: options.id,
        operation,
        attempt: n + 1,
        delayMs: delay,
        cause: failure.cause,
      });
      try {
        await sleep(delay, undefined, { signal: closing.signal });
      } catch {
        checkOpen();
      }
    }
  }

  /** Check a fetched key can do `operations`; returns its parsed identifier. */
  function usableKey(key: AzureKeyVaultKey, operations: readonly string[]): KeyIdentifier {
    const kid = key.id === undefined ? undefined : parseKeyIdentifier(key.id);
    const where = `key ${settings.keyName} in vault ${settings.vaultOrigin}`;
    const failed = (message: string): AtrestError =>
      new AtrestError('ATREST_PROVIDER_FAILED', `Provider ${options.id}: ${where} ${message}`, {
        details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName },
      });
    if (!kid || kid.name.toLowerCase() !== settings.keyName.toLowerCase())
      throw failed(`came back with an unexpected identifier (${key.id ?? 'none'})`);
    if (key.properties.enabled === false) throw failed(`(version ${kid.version}) is disabled; enable it in the vault`);
    const now = Date.now();
    if (key.properties.notBefore && key.properties.notBefore.getTime() > now)
      throw failed(`(version ${kid.version}) is not valid before ${key.properties.notBefore.toISOString()}`);
    if (key.properties.expiresOn && key.properties.expiresOn.getTime() <= now)
      throw failed(
        `(version ${kid.version}) expired at ${key.properties.expiresOn.toISOString()}; rotate the key or extend its expiry`,
      );
    if (key.keyType !== undefined && key.keyType !== 'RSA' && key.keyType !== 'RSA-HSM')
      throw failed(`is a ${key.keyType} key; wrapping needs an RSA key`);
    const missing = operations.filter((op) => key.keyOperations !== undefined && !key.keyOperations.includes(op));
    if (missing.length > 0) throw failed(`does not allow ${missing.join(' and ')}; add the operation(s) to the key`);
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

  const wrongKey = (message: string, keyRef: string): AtrestError =>
    new AtrestError(
      'ATREST_WRONG_KEY',
      `Provider ${options.id} (key ${settings.keyName} in vault ${settings.vaultOrigin}) cannot unwrap this data key: ${message}`,
      {
        details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName, keyRef },
      },
    );
  const decryptFailed = (message: string): AtrestError =>
    new AtrestError('ATREST_DECRYPT_FAILED', `Provider ${options.id}: ${message}`, {
      details: { provider: options.id, vault: settings.vaultOrigin, key: settings.keyName },
    });

  return {
    async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
      checkOpen();
      if (dataKey.length !== DATA_KEY_BYTES) {
        throw new AtrestError(
          'ATREST_PROVIDER_CONTRACT',
          `Provider ${options.id}: a data key must be ${DATA_KEY_BYTES} bytes, got ${dataKey.length}`,
          { details: { provider: options.id } },
        );
      }
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
            throw new AtrestError(
              'ATREST_PROVIDER_FAILED',
              `Provider ${options.id}: the vault wrapped with ${result.keyID}, not the version looked up (${kid.version})`,
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
          `its keyRef "${wrapped.keyRef}" is not a versioned Key Vault key identifier (https://<vault>/keys/<name>/<version>)`,
          wrapped.keyRef,
        );
      if (ref.origin !== settings.vaultOrigin)
        throw wrongKey(
          `it was wrapped by a key in vault ${ref.origin}; configure a provider for that vault`,
          wrapped.keyRef,
        );
      if (ref.name.toLowerCase() !== settings.keyName.toLowerCase())
        throw wrongKey(`it was wrapped by key ${ref.name}; configure a provider for that key`, wrapped.keyRef);
      const frame = decodeWrapped(wrapped.ciphertext);
      if (!frame)
        throw decryptFailed(
          `the wrapped data key (${wrapped.ciphertext.length} bytes) is damaged or was not written by the azurekv provider`,
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
            'the context does not match the one bound when the data key was wrapped (a data key copied to another record, or a damaged record)',
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
        credential: options.credential
          ? 'injected'
          : settings.clientSecret
            ? 'client secret'
            : 'default credential chain',
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
