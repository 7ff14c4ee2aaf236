// A local Azure Key Vault and the Microsoft Entra ID (Azure AD) endpoints that @azure/identity and
// MSAL need, on one HTTPS server on loopback with a throwaway CA. Vault: the Key Vault REST API
// (`api-version`), challenge-based bearer auth, keys with versions, wrapkey/unwrapkey/encrypt/decrypt
// with RSA-OAEP and RSA-OAEP-256 on real RSA-2048 keys, errors in Key Vault's JSON shape. Identity:
// OpenID configuration, instance discovery and the client-credentials token grant, checking tenant,
// client id and secret. Per-operation call counts and fault injection let provider tests run the
// real Azure SDK with no network and no Azure subscription.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdentityError, createIdentity, identityErrorBody, identityFaultBody } from './azure-identity.js';
import { VaultError, azureKeyVaultOperations, createVaultKeys, vaultFaultBody } from './azure-keyvault-keys.js';
import type {
  AzureKeyVaultKeyOperation,
  AzureKeyVaultKeyVersion,
  AzureKeyVaultOperation,
} from './azure-keyvault-keys.js';

export { azureKeyVaultOperations } from './azure-keyvault-keys.js';
export type {
  AzureKeyVaultKeyOperation,
  AzureKeyVaultKeyVersion,
  AzureKeyVaultOperation,
} from './azure-keyvault-keys.js';
import type { EmulatorControls, EmulatorFault, EmulatorFaultKind, JsonObject } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  sendJson,
  startEmulatorServer,
} from './http-emulator.js';

const identityOperations: ReadonlySet<AzureKeyVaultOperation> = new Set([
  'openidConfiguration',
  'instanceDiscovery',
  'token',
]);

/**
 * What a fault does to a request it matches: `throttling` answers 429 `Throttled` with `Retry-After`
 * (`retryAfterSeconds`, default 1), `internal-failure` 500 `InternalServerError`,
 * `service-unavailable` 503 `ServiceUnavailable` (identity endpoints answer in OAuth 2.0's words).
 */
export type AzureKeyVaultFaultKind = EmulatorFaultKind;

/** A fault to inject. */
export type AzureKeyVaultFault = EmulatorFault<AzureKeyVaultOperation> & {
  /** For `latency`: the delay in milliseconds (default 1000). */
  readonly ms?: number;
  /** For `throttling`: the `Retry-After` header in seconds (default 1; 0 allowed). */
  readonly retryAfterSeconds?: number;
  /** Only these operations; unset: every vault operation (identity endpoints are hit only when listed). */
  readonly operations?: readonly AzureKeyVaultOperation[];
};

/** The connection facts, named as the `azurekv` provider's INI keys. */
export type AzureKeyVaultProviderKeys = {
  readonly vault_uri: string;
  readonly ca_file: string;
  readonly tenant_id: string;
  readonly client_id: string;
  readonly client_secret: string;
  readonly key_id: string;
  readonly authority_host: string;
};

export type AzureKeyVaultEmulatorOptions = {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Directory (tenant) id (default: a random UUID). */
  readonly tenantId?: string;
  /** Application (client) id accepted by the token endpoint (default: a random UUID). */
  readonly clientId?: string;
  /** Its client secret (default: a random one). */
  readonly clientSecret?: string;
  /** Name of the first key (default `atrest-kek`). */
  readonly keyName?: string;
  /** Lifetime of issued access tokens in seconds (default 3600). */
  readonly tokenLifetimeSeconds?: number;
  /** Names in the server certificate (default 127.0.0.1, ::1, localhost): set others to test host-name checks. */
  readonly certificateHosts?: readonly string[];
  /**
   * The `resource` the vault's challenge names, and the only audience the token endpoint issues
   * (default: the vault's own origin). Set another (e.g. https://vault.azure.net) to test that a
   * client refuses to fetch a token for a resource its vault host does not belong to.
   */
  readonly challengeResource?: string;
};

/**
 * `calls`: requests received per operation (every attempt, including ones answered by a fault, a
 * challenge or an error), plus `challenges`: 401 answers to requests without a valid token.
 */
export type AzureKeyVaultEmulator = AzureKeyVaultProviderKeys &
  EmulatorControls<AzureKeyVaultOperation | 'challenges', AzureKeyVaultFault> & {
    /** `https://127.0.0.1:<port>`: the vault, and the authority host. */
    readonly origin: string;
    /** Exactly the provider's INI keys, e.g. to spread into a provider config. */
    readonly providerKeys: AzureKeyVaultProviderKeys;
    /** Create an RSA-2048 key (its first version) allowing `operations` (default: all). */
    createKey(name: string, options?: { operations?: readonly AzureKeyVaultKeyOperation[] }): AzureKeyVaultKeyVersion;
    /** Add a new version to a key (default: the first key); the new one becomes the latest. */
    rotateKey(name?: string): AzureKeyVaultKeyVersion;
    /** A key's versions, oldest first. */
    keyVersions(name?: string): readonly AzureKeyVaultKeyVersion[];
    /** Enable or disable a key version (default: every version of the key). */
    setKeyEnabled(name: string, enabled: boolean, version?: string): void;
    /** Replace the operations a key allows (all versions). */
    setKeyOperations(name: string, operations: readonly AzureKeyVaultKeyOperation[]): void;
    /** Forget every issued access token: the next vault request gets a challenge. */
    revokeTokens(): void;
  };

const MAX_BODY = 64 * 1024;
/** The HTTP status of each error a fault answers with. */
const FAULT_STATUS = { throttling: 429, 'internal-failure': 500, 'service-unavailable': 503 } as const;

/** Start an Azure Key Vault + identity emulator with one RSA-2048 key. */
export async function startAzureKeyVaultEmulator(
  options: AzureKeyVaultEmulatorOptions = {},
): Promise<AzureKeyVaultEmulator> {
  const tenantId = options.tenantId ?? randomUUID();
  const clientId = options.clientId ?? randomUUID();
  const clientSecret =
    options.clientSecret ?? `${randomBytes(3).toString('hex')}~${randomBytes(24).toString('base64url')}`;
  const firstKeyName = options.keyName ?? 'atrest-kek';

  const calls = new CallCounter<AzureKeyVaultOperation | 'challenges'>([...azureKeyVaultOperations, 'challenges']);
  const faults = new FaultQueue<AzureKeyVaultOperation, AzureKeyVaultFault>({
    inDefaultScope: (operation) => !identityOperations.has(operation),
  });
  let origin = '';

  const kidOf = (name: string, version: string): string => `${origin}/keys/${name}/${version}`;
  const resource = (): string => options.challengeResource ?? origin;
  const { findKey, findVersion, addVersion, facts, createKey, keyBundle, keyOperation } = createVaultKeys(kidOf);
  const identity = createIdentity({
    tenantId,
    clientId,
    clientSecret,
    tokenLifetime: options.tokenLifetimeSeconds ?? 3600,
    origin: () => origin,
    resource,
  });

  // --- routing -------------------------------------------------------------------------------

  type Route =
    | { readonly operation: 'openidConfiguration'; readonly tenant: string }
    | { readonly operation: 'instanceDiscovery' }
    | { readonly operation: 'token'; readonly tenant: string }
    | { readonly operation: 'getKey'; readonly name: string; readonly version: string }
    | {
        readonly operation: 'wrapKey' | 'unwrapKey' | 'encrypt' | 'decrypt';
        readonly name: string;
        readonly version: string;
      };

  const keyActions: Readonly<Record<string, 'wrapKey' | 'unwrapKey' | 'encrypt' | 'decrypt'>> = {
    wrapkey: 'wrapKey',
    unwrapkey: 'unwrapKey',
    encrypt: 'encrypt',
    decrypt: 'decrypt',
  };

  function route(method: string, path: string): Route | undefined {
    const parts = path
      .split('/')
      .slice(1)
      .map((p) => decodeURIComponent(p));
    if (parts[0] === 'keys') {
      const name = parts[1] ?? '';
      if (name === '') return undefined;
      // `/keys/<name>`, `/keys/<name>/`, `/keys/<name>/<version>`, `/keys/<name>/[<version>]/<action>`
      const rest = parts.slice(2);
      if (method === 'GET' && rest.length <= 1) return { operation: 'getKey', name, version: rest[0] ?? '' };
      const action = rest.length === 2 ? keyActions[(rest[1] ?? '').toLowerCase()] : undefined;
      if (method === 'POST' && action) return { operation: action, name, version: rest[0] ?? '' };
      return undefined;
    }
    const tenant = parts[0] ?? '';
    const tail = parts.slice(1).join('/');
    if (
      method === 'GET' &&
      (tail === 'v2.0/.well-known/openid-configuration' || tail === '.well-known/openid-configuration')
    )
      return { operation: 'openidConfiguration', tenant };
    if (method === 'GET' && tail === 'discovery/instance') return { operation: 'instanceDiscovery' };
    if (method === 'POST' && tail === 'oauth2/v2.0/token') return { operation: 'token', tenant };
    return undefined;
  }

  const send = (res: ServerResponse, status: number, body: JsonObject, headers: Record<string, string> = {}): void =>
    sendJson(res, status, body, {
      'content-type': 'application/json; charset=utf-8',
      'x-ms-request-id': randomUUID(),
      ...headers,
    });

  function sendFault(res: ServerResponse, fault: AzureKeyVaultFault, identity: boolean): void {
    if (fault.kind === 'latency' || fault.kind === 'drop') return;
    const headers = fault.kind === 'throttling' ? { 'retry-after': String(fault.retryAfterSeconds ?? 1) } : {};
    send(res, FAULT_STATUS[fault.kind], (identity ? identityFaultBody : vaultFaultBody)(fault.kind), headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const body = await readBody(
      req,
      MAX_BODY,
      () => new VaultError(413, 'RequestTooLarge', 'Request body is too large'),
    );
    const r = route(req.method ?? 'GET', url.pathname);
    if (!r) {
      send(res, 404, { error: { code: 'NotFound', message: `No route for ${req.method ?? ''} ${url.pathname}` } });
      return;
    }
    calls.add(r.operation);
    const fault = faults.take(r.operation);
    if (await dropOrDelay(fault, req, server.closing)) return;
    if (fault && fault.kind !== 'latency') {
      sendFault(res, fault, identityOperations.has(r.operation));
      return;
    }

    if (!('name' in r)) {
      try {
        if (r.operation === 'openidConfiguration') send(res, 200, identity.openidConfiguration(r.tenant));
        else if (r.operation === 'instanceDiscovery') send(res, 200, identity.instanceDiscovery());
        else
          send(res, 200, identity.issueToken(r.tenant, body), {
            'cache-control': 'no-store, no-cache',
            pragma: 'no-cache',
          });
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err;
        send(res, err.status, identityErrorBody(err));
      }
      return;
    }

    // Vault: challenge first (as Key Vault does), then the api-version, then the operation.
    const unauthenticated = identity.authFailure(req);
    if (unauthenticated !== undefined) {
      calls.add('challenges');
      send(
        res,
        401,
        { error: { code: 'Unauthorized', message: unauthenticated } },
        {
          'www-authenticate': `Bearer authorization="${origin}/${tenantId}", resource="${resource()}"`,
        },
      );
      return;
    }
    try {
      if (!url.searchParams.get('api-version'))
        throw new VaultError(400, 'BadParameter', "The 'api-version' query parameter is missing.");
      const key = findKey(r.name);
      if (r.operation === 'getKey') {
        const v = findVersion(key, r.version);
        if (!v.enabled)
          throw new VaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled key.', 'KeyDisabled');
        send(res, 200, keyBundle(key, v));
      } else {
        send(res, 200, keyOperation(key, r.version, r.operation, body));
      }
    } catch (err) {
      if (!(err instanceof VaultError)) throw err;
      send(res, err.status, {
        error: {
          code: err.code,
          message: err.message,
          ...(err.innerCode ? { innererror: { code: err.innerCode } } : {}),
        },
      });
    }
  }

  const server = await startEmulatorServer({
    caName: 'atrest Azure Key Vault emulator CA',
    dirPrefix: 'atrest-azure-kv-',
    port: options.port,
    certificateHosts: options.certificateHosts,
    handle,
    answerError(err, _req, res) {
      if (err instanceof VaultError) send(res, err.status, { error: { code: err.code, message: err.message } });
      else
        send(res, 500, {
          error: { code: 'InternalServerError', message: err instanceof Error ? err.message : String(err) },
        });
    },
  });
  origin = server.origin;
  const first = createKey(firstKeyName);

  const providerKeys: AzureKeyVaultProviderKeys = {
    vault_uri: origin,
    ca_file: server.caFile,
    tenant_id: tenantId,
    client_id: clientId,
    client_secret: clientSecret,
    key_id: first.name,
    authority_host: origin,
  };

  const specific: Omit<
    AzureKeyVaultEmulator,
    keyof EmulatorControls<AzureKeyVaultOperation | 'challenges', AzureKeyVaultFault>
  > = {
    ...providerKeys,
    origin,
    providerKeys,
    createKey,
    rotateKey(name = firstKeyName) {
      const key = findKey(name);
      return facts(key, addVersion(key));
    },
    keyVersions(name = firstKeyName) {
      const key = findKey(name);
      return key.versions.map((v) => facts(key, v));
    },
    setKeyEnabled(name, enabled, version) {
      const key = findKey(name);
      const now = Math.floor(Date.now() / 1000);
      for (const v of version === undefined ? key.versions : [findVersion(key, version)]) {
        v.enabled = enabled;
        v.updated = now;
      }
    },
    setKeyOperations(name, operations) {
      findKey(name).operations = [...operations];
    },
    revokeTokens() {
      identity.revokeTokens();
    },
  };
  // Assigned onto the controls, whose `calls` getter must stay a getter.
  return Object.assign(emulatorControls(server, calls, faults), specific);
}
