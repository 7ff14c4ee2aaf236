// A local Azure Key Vault and the Microsoft Entra ID (Azure AD) endpoints that @azure/identity and
// MSAL need, on one HTTPS server on loopback with a throwaway CA. Vault: the Key Vault REST API
// (`api-version`), challenge-based bearer auth, keys with versions, wrapkey/unwrapkey/encrypt/decrypt
// with RSA-OAEP and RSA-OAEP-256 on real RSA-2048 keys, errors in Key Vault's JSON shape. Identity:
// OpenID configuration, instance discovery and the client-credentials token grant, checking tenant,
// client id and secret. Per-operation call counts and fault injection let provider tests run the
// real Azure SDK with no network and no Azure subscription.
import {
  constants,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorControls, EmulatorFault, EmulatorFaultKind } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  startEmulatorServer,
} from './http-emulator.js';

/** The requests the emulator tells apart (and counts). */
export const azureKeyVaultOperations = [
  /** Identity: `GET /<tenant>/v2.0/.well-known/openid-configuration` (MSAL's tenant discovery). */
  'openidConfiguration',
  /** Identity: `GET /common/discovery/instance` (MSAL's instance discovery, when it asks this host). */
  'instanceDiscovery',
  /** Identity: `POST /<tenant>/oauth2/v2.0/token`. */
  'token',
  /** Vault: `GET /keys/<name>[/<version>]`. */
  'getKey',
  'wrapKey',
  'unwrapKey',
  'encrypt',
  'decrypt',
] as const;
export type AzureKeyVaultOperation = (typeof azureKeyVaultOperations)[number];

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

/** Key operations a Key Vault key may allow. */
export type AzureKeyVaultKeyOperation = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify';

/** Public facts of one version of an emulated key. */
export type AzureKeyVaultKeyVersion = {
  readonly name: string;
  readonly version: string;
  /** The full key identifier, `https://<vault>/keys/<name>/<version>`. */
  readonly kid: string;
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

type KeyVersionRecord = {
  readonly version: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly n: string;
  readonly e: string;
  readonly created: number;
  enabled: boolean;
  updated: number;
};

type KeyRecord = {
  readonly name: string;
  readonly versions: KeyVersionRecord[];
  operations: AzureKeyVaultKeyOperation[];
};

type TokenRecord = { readonly clientId: string; readonly audience: string; readonly expiresAt: number };

type JsonObject = Record<string, unknown>;

/** An error answered the way Key Vault answers it: HTTP status and `{ error: { code, message } }`. */
class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

/** An error answered the way Entra ID's token endpoint answers it (OAuth 2.0 error response). */
class IdentityError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;
const allOperations: readonly AzureKeyVaultKeyOperation[] = [
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'sign',
  'verify',
];
const oaepHash: Readonly<Record<string, string>> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };
const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

function newVersion(): string {
  return randomBytes(16).toString('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function base64urlField(input: JsonObject, name: string): Buffer {
  const value = input[name];
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(value)) {
    throw new VaultError(400, 'BadParameter', `Property '${name}' must be a base64url string.`);
  }
  return Buffer.from(value, 'base64url');
}

/** Start an Azure Key Vault + identity emulator with one RSA-2048 key. */
export async function startAzureKeyVaultEmulator(
  options: AzureKeyVaultEmulatorOptions = {},
): Promise<AzureKeyVaultEmulator> {
  const tenantId = options.tenantId ?? randomUUID();
  const clientId = options.clientId ?? randomUUID();
  const clientSecret =
    options.clientSecret ?? `${randomBytes(3).toString('hex')}~${randomBytes(24).toString('base64url')}`;
  const firstKeyName = options.keyName ?? 'atrest-kek';
  const tokenLifetime = options.tokenLifetimeSeconds ?? 3600;

  const keys = new Map<string, KeyRecord>();
  const tokens = new Map<string, TokenRecord>();
  const calls = new CallCounter<AzureKeyVaultOperation | 'challenges'>([...azureKeyVaultOperations, 'challenges']);
  const faults = new FaultQueue<AzureKeyVaultOperation, AzureKeyVaultFault>({
    inDefaultScope: (operation) => !identityOperations.has(operation),
  });
  let origin = '';

  const kidOf = (name: string, version: string): string => `${origin}/keys/${name}/${version}`;
  const resource = (): string => options.challengeResource ?? origin;

  function findKey(name: string): KeyRecord {
    const key = keys.get(name.toLowerCase());
    if (!key)
      throw new VaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    return key;
  }

  function findVersion(key: KeyRecord, version: string): KeyVersionRecord {
    const found = version === '' ? key.versions.at(-1) : key.versions.find((v) => v.version === version.toLowerCase());
    if (!found)
      throw new VaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${key.name}/${version} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    return found;
  }

  function addVersion(key: KeyRecord): KeyVersionRecord {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    const jwk = publicKey.export({ format: 'jwk' });
    const now = Math.floor(Date.now() / 1000);
    const record: KeyVersionRecord = {
      version: newVersion(),
      privateKey,
      publicKey,
      n: jwk.n ?? '',
      e: jwk.e ?? '',
      created: now,
      updated: now,
      enabled: true,
    };
    key.versions.push(record);
    return record;
  }

  function facts(key: KeyRecord, v: KeyVersionRecord): AzureKeyVaultKeyVersion {
    return { name: key.name, version: v.version, kid: kidOf(key.name, v.version) };
  }

  function createKey(
    name: string,
    opts: { operations?: readonly AzureKeyVaultKeyOperation[] } = {},
  ): AzureKeyVaultKeyVersion {
    if (!KEY_NAME.test(name)) throw new Error(`Key names are 1-127 letters, digits and dashes, not "${name}"`);
    if (keys.has(name.toLowerCase())) throw new Error(`Key "${name}" already exists; use rotateKey() to add a version`);
    const key: KeyRecord = { name, versions: [], operations: [...(opts.operations ?? allOperations)] };
    keys.set(name.toLowerCase(), key);
    return facts(key, addVersion(key));
  }

  function keyBundle(key: KeyRecord, v: KeyVersionRecord): JsonObject {
    return {
      key: { kid: kidOf(key.name, v.version), kty: 'RSA', key_ops: key.operations, n: v.n, e: v.e },
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
        exportable: false,
      },
    };
  }

  function usableVersion(key: KeyRecord, version: string, operation: AzureKeyVaultKeyOperation): KeyVersionRecord {
    const v = findVersion(key, version);
    if (!v.enabled)
      throw new VaultError(403, 'Forbidden', `Operation ${operation} is not allowed on a disabled key.`, 'KeyDisabled');
    if (!key.operations.includes(operation))
      throw new VaultError(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on this key.`,
        'OperationNotAllowed',
      );
    return v;
  }

  // --- identity (Entra ID) -------------------------------------------------------------------

  function checkTenant(tenant: string): void {
    if (tenant.toLowerCase() !== tenantId.toLowerCase() && tenant !== 'common' && tenant !== 'organizations') {
      throw new IdentityError(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
  }

  function openidConfiguration(tenant: string): JsonObject {
    checkTenant(tenant);
    const base = `${origin}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'ver'],
      tenant_region_scope: null,
      cloud_instance_name: 'atrest-emulator',
    };
  }

  function instanceDiscovery(): JsonObject {
    const host = new URL(origin).host;
    return {
      tenant_discovery_endpoint: `${origin}/${tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  }

  function issueToken(tenant: string, body: Buffer): JsonObject {
    checkTenant(tenant);
    const form = new URLSearchParams(body.toString('utf8'));
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      throw new IdentityError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant ?? ''}'.`,
      );
    }
    const id = form.get('client_id') ?? '';
    if (id.toLowerCase() !== clientId.toLowerCase()) {
      throw new IdentityError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${id}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    const secret = form.get('client_secret');
    if (secret === null) {
      throw new IdentityError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    if (!sameSecret(secret, clientSecret)) {
      throw new IdentityError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    // The token is scoped to the resource the challenge names (by default this server itself).
    const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s.endsWith('/.default'));
    const audience = scopes[0]?.slice(0, -'/.default'.length) ?? '';
    if (scopes.length !== 1 || audience !== resource()) {
      throw new IdentityError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${audience || '(none)'} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    const token = `atrest-emu.${randomBytes(32).toString('base64url')}`;
    tokens.set(token, { clientId, audience, expiresAt: Date.now() + tokenLifetime * 1000 });
    return { token_type: 'Bearer', expires_in: tokenLifetime, ext_expires_in: tokenLifetime, access_token: token };
  }

  // --- vault ---------------------------------------------------------------------------------

  /** The reason a request is not authenticated, or undefined when its token is good. */
  function authFailure(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (!header) return 'AKV10000: Request is missing a Bearer or PoP token.';
    const match = /^Bearer (\S+)$/.exec(header);
    const record = match?.[1] === undefined ? undefined : tokens.get(match[1]);
    if (!record) return 'AKV10022: Invalid token.';
    if (record.expiresAt <= Date.now()) return 'AKV10032: Token expired.';
    if (record.audience !== resource()) return 'AKV10022: Invalid audience.';
    return undefined;
  }

  function keyOperation(key: KeyRecord, version: string, operation: AzureKeyVaultOperation, body: Buffer): JsonObject {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new VaultError(400, 'BadParameter', 'The request body is not valid JSON.');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new VaultError(400, 'BadParameter', 'The request body must be a JSON object.');
    const params = input as JsonObject;
    const alg = params['alg'];
    const hash = typeof alg === 'string' ? oaepHash[alg] : undefined;
    if (hash === undefined)
      throw new VaultError(
        400,
        'BadParameter',
        `Invalid algorithm '${String(alg)}' for an RSA key: use RSA-OAEP or RSA-OAEP-256.`,
      );
    const value = base64urlField(params, 'value');
    const keyOp: AzureKeyVaultKeyOperation =
      operation === 'wrapKey'
        ? 'wrapKey'
        : operation === 'unwrapKey'
          ? 'unwrapKey'
          : operation === 'encrypt'
            ? 'encrypt'
            : 'decrypt';
    const v = usableVersion(key, version, keyOp);
    const kid = kidOf(key.name, v.version);
    let result: Buffer;
    if (keyOp === 'wrapKey' || keyOp === 'encrypt') {
      const max = 256 - 2 * (hash === 'sha1' ? 20 : 32) - 2;
      if (value.length === 0 || value.length > max)
        throw new VaultError(
          400,
          'BadParameter',
          `The value must be 1 to ${max} bytes for ${String(alg)} with a 2048-bit key.`,
        );
      result = publicEncrypt({ key: v.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value);
    } else {
      try {
        result = privateDecrypt(
          { key: v.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
          value,
        );
      } catch {
        throw new VaultError(
          400,
          'BadParameter',
          `The ciphertext could not be decrypted with key ${kid} and algorithm ${String(alg)}.`,
        );
      }
    }
    return { kid, value: result.toString('base64url') };
  }

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

  function send(res: ServerResponse, status: number, body: JsonObject, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-ms-request-id': randomUUID(),
      ...headers,
    });
    res.end(text);
  }

  function sendFault(res: ServerResponse, fault: AzureKeyVaultFault, identity: boolean): void {
    if (fault.kind === 'throttling') {
      const retryAfter = String(fault.retryAfterSeconds ?? 1);
      if (identity)
        send(
          res,
          429,
          {
            error: 'temporarily_unavailable',
            error_description: 'AADSTS50196: The server is temporarily unavailable; too many requests.',
            error_codes: [50196],
          },
          { 'retry-after': retryAfter },
        );
      else
        send(
          res,
          429,
          {
            error: {
              code: 'Throttled',
              message:
                'Request was not processed because too many requests were received. Reason: A single client has exceeded the request limit; retry after the interval in the Retry-After header.',
            },
          },
          { 'retry-after': retryAfter },
        );
    } else if (fault.kind === 'internal-failure') {
      send(
        res,
        500,
        identity
          ? { error: 'server_error', error_description: 'AADSTS90100: An internal server error occurred.' }
          : {
              error: { code: 'InternalServerError', message: 'An internal server error occurred; retry the request.' },
            },
      );
    } else {
      send(
        res,
        503,
        identity
          ? {
              error: 'temporarily_unavailable',
              error_description: 'AADSTS90033: The service is temporarily unavailable.',
            }
          : {
              error: {
                code: 'ServiceUnavailable',
                message: 'The service is temporarily unavailable; retry the request.',
              },
            },
      );
    }
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
        if (r.operation === 'openidConfiguration') send(res, 200, openidConfiguration(r.tenant));
        else if (r.operation === 'instanceDiscovery') send(res, 200, instanceDiscovery());
        else send(res, 200, issueToken(r.tenant, body), { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err;
        send(res, err.status, {
          error: err.error,
          error_description: `AADSTS${err.aadsts}: ${err.message} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
          error_codes: [err.aadsts],
          timestamp: new Date().toISOString(),
          trace_id: randomUUID(),
          correlation_id: randomUUID(),
        });
      }
      return;
    }

    // Vault: challenge first (as Key Vault does), then the api-version, then the operation.
    const unauthenticated = authFailure(req);
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
      tokens.clear();
    },
  };
  // Assigned onto the controls, whose `calls` getter must stay a getter.
  return Object.assign(emulatorControls(server, calls, faults), specific);
}
