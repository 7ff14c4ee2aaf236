// A local HashiCorp Vault (or OpenBao) speaking the HTTP API that a Transit client uses, on one
// HTTPS server on loopback with a throwaway CA: `X-Vault-Token` and `X-Vault-Namespace` (or a
// namespace path prefix), the token self endpoints, AppRole login, ACL policies, transit mounts
// (vault-transit.ts), `sys/health` and `sys/seal-status`, a sealed state, and Vault's error bodies
// `{"errors":[…]}` with its status codes. Call counts and injected faults let provider tests run
// the provider's own HTTPS client against it, with no Vault binary and no network.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorControls, EmulatorFault, EmulatorFaultKind } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  sendJson,
  startEmulatorServer,
} from './http-emulator.js';
import { VaultAuth } from './vault-auth.js';
import type { VaultPolicyRules, VaultTokenOptions } from './vault-auth.js';
import { VaultError, permissionDenied } from './vault-error.js';
import { VaultNamespaces, trimNamespace } from './vault-namespaces.js';
import { routeTransit } from './vault-transit.js';
import type { TransitKeyFacts, TransitKeyType } from './vault-transit.js';

/** The requests the emulator tells apart (and counts). */
export const hashicorpVaultOperations = [
  'health',
  'sealStatus',
  'lookupSelf',
  'renewSelf',
  'revokeSelf',
  'appRoleLogin',
  'encrypt',
  'decrypt',
  'rewrap',
  'readKey',
  'writeKey',
  'rotateKey',
  'configKey',
] as const;
export type HashicorpVaultOperation = (typeof hashicorpVaultOperations)[number];

/**
 * What a fault does: `throttling` answers 429 (a rate limit quota) with `Retry-After`,
 * `internal-failure` 500, `service-unavailable` 503 from a node that cannot reach the active one
 * (a sealed Vault is a state of its own: `seal()`).
 */
export type HashicorpVaultFaultKind = EmulatorFaultKind;

/** A fault to inject; without `operations` it hits every operation. */
export type HashicorpVaultFault = EmulatorFault<HashicorpVaultOperation> & {
  /** For `throttling`: the `Retry-After` header in seconds (default 1). */
  readonly retryAfterSeconds?: number;
};

/** The connection facts, named as the `hashicorpvault` provider's INI keys. */
export type HashicorpVaultProviderKeys = {
  readonly url: string;
  readonly token: string;
  readonly transit_engine_path: string;
  readonly key_ring: string;
  readonly token_renewal_interval: string;
  readonly ca_file: string;
  /** Only when the emulator was started in a namespace. */
  readonly namespace?: string;
};

export type HashicorpVaultEmulatorOptions = {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Name of the first transit key (default `atrest`). */
  readonly keyName?: string;
  /** Its type (default `aes256-gcm96`). */
  readonly keyType?: TransitKeyType;
  /** Mount path of the transit engine (default `transit`). */
  readonly mount?: string;
  /** A namespace (e.g. `team-a`) holding the mount, the service token and the AppRole (default: root). */
  readonly namespace?: string;
  /** Period of the service token in seconds (default 86400: a periodic token, as Grafana's docs make). */
  readonly tokenPeriodSeconds?: number;
  /** Names in the server certificate (default 127.0.0.1, ::1, localhost). */
  readonly certificateHosts?: readonly string[];
};

/** Where a key lives: its mount and namespace (default: the emulator's). */
export type VaultKeyLocation = { readonly mount?: string; readonly namespace?: string };

export type HashicorpVaultEmulator = HashicorpVaultProviderKeys &
  EmulatorControls<HashicorpVaultOperation, HashicorpVaultFault> & {
    /** `https://127.0.0.1:<port>`. */
    readonly origin: string;
    /** Exactly the provider's INI keys (a periodic service token allowed on the first key). */
    readonly providerKeys: HashicorpVaultProviderKeys;
    /** A root token (root namespace): allowed everything. */
    readonly rootToken: string;
    /** An AppRole allowed what the service token is allowed, as the provider's INI keys. */
    readonly appRole: { readonly role_id: string; readonly secret_id: string };
    readonly sealed: boolean;
    seal(): void;
    unseal(): void;
    createNamespace(path: string): void;
    mountTransit(path: string, namespace?: string): void;
    createKey(name: string, options?: VaultKeyLocation & { readonly type?: TransitKeyType }): TransitKeyFacts;
    /** A new latest version of a key (default: the first key). */
    rotateKey(name?: string, location?: VaultKeyLocation): TransitKeyFacts;
    setMinDecryptionVersion(version: number, name?: string, location?: VaultKeyLocation): TransitKeyFacts;
    key(name?: string, location?: VaultKeyLocation): TransitKeyFacts | undefined;
    definePolicy(name: string, rules: VaultPolicyRules, namespace?: string): void;
    /** A new service token; returns its id. */
    createToken(options?: VaultTokenOptions): string;
    /** A new AppRole role in `options.namespace`, as the provider's INI keys. */
    createAppRole(name: string, options?: VaultTokenOptions): { readonly role_id: string; readonly secret_id: string };
    revokeToken(token: string): void;
    /** Make a token expire now. */
    expireToken(token: string): void;
    /** Make every token an AppRole login issued expire now. */
    expireAppRoleTokens(): void;
    /** Seconds a token has left (0: expired or revoked), as `lookup-self` reports them. */
    tokenTtl(token: string): number;
  };

type Json = Record<string, unknown>;

const MAX_BODY = 1024 * 1024;
/** Endpoints served without a token (and while sealed). */
const unauthenticated: Readonly<Record<string, HashicorpVaultOperation>> = {
  'GET sys/health': 'health',
  'GET sys/seal-status': 'sealStatus',
};
/** The token's own endpoints (Vault's `default` policy allows them to every token). */
const selfOperations: Readonly<Record<string, HashicorpVaultOperation>> = {
  'GET auth/token/lookup-self': 'lookupSelf',
  'POST auth/token/renew-self': 'renewSelf',
  'POST auth/token/revoke-self': 'revokeSelf',
  'POST auth/approle/login': 'appRoleLogin',
};

/** Start a Vault emulator with a transit mount, one key, a periodic service token and an AppRole. */
export async function startHashicorpVaultEmulator(
  options: HashicorpVaultEmulatorOptions = {},
): Promise<HashicorpVaultEmulator> {
  const home = trimNamespace(options.namespace ?? '');
  const homeMount = trimNamespace(options.mount ?? 'transit');
  const firstKey = options.keyName ?? 'atrest';
  const auth = new VaultAuth();
  const namespaces = new VaultNamespaces();
  const calls = new CallCounter<HashicorpVaultOperation>(hashicorpVaultOperations);
  const faults = new FaultQueue<HashicorpVaultOperation, HashicorpVaultFault>();
  let sealed = false;
  const engineAt = (location: VaultKeyLocation = {}) =>
    namespaces.engine(location.mount ?? homeMount, trimNamespace(location.namespace ?? home));

  function send(res: ServerResponse, status: number, body: Json | undefined, headers: Record<string, string> = {}) {
    if (body !== undefined)
      sendJson(res, status, body, { 'cache-control': 'no-store', 'content-type': 'application/json', ...headers });
    else if (!res.destroyed && !res.writableEnded)
      res.writeHead(status, { 'cache-control': 'no-store', ...headers }).end();
  }

  function envelope(data: Json | null, extra: Json = {}): Json {
    return {
      request_id: randomUUID(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data,
      wrap_info: null,
      warnings: null,
      auth: null,
      ...extra,
    };
  }

  function healthBody(): Json {
    return {
      initialized: true,
      sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(Date.now() / 1000),
      version: '1.17.0+emulator',
      cluster_name: 'atrest-emulator',
      cluster_id: '2f7a6ce0-0000-4000-8000-000000000000',
    };
  }

  function parseBody(raw: Buffer): Json {
    if (raw.length === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new VaultError(400, ['error parsing JSON']);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new VaultError(400, ['error parsing JSON']);
    }
    return parsed as Json;
  }

  /** Count the request and apply a fault to it; true when the fault answered it. */
  async function faulted(operation: HashicorpVaultOperation, req: IncomingMessage, res: ServerResponse, path: string) {
    calls.add(operation);
    const fault = faults.take(operation);
    if (await dropOrDelay(fault, req, server.closing)) return true;
    if (!fault || fault.kind === 'latency') return false;
    if (fault.kind === 'throttling') {
      const retryAfter = { 'retry-after': String(fault.retryAfterSeconds ?? 1) };
      send(res, 429, { errors: [`request path "${path}": rate limit quota exceeded`] }, retryAfter);
    } else if (fault.kind === 'internal-failure') send(res, 500, { errors: ['internal error'] });
    else send(res, 503, { errors: ['local node not active but active cluster node not found'] });
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', server.origin);
    const raw = await readBody(req, MAX_BODY, () => new VaultError(413, ['request body too large']));
    const method = req.method === 'PUT' ? 'POST' : (req.method ?? 'GET');
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (segments[0] !== 'v1') return send(res, 404, { errors: [] });
    const path = segments.slice(1).map(decodeURIComponent);
    const sys = unauthenticated[`${method} ${path.join('/')}`];
    if (sys) {
      if (await faulted(sys, req, res, path.join('/'))) return;
      const health = healthBody();
      if (sys === 'health') return send(res, sealed ? 503 : 200, health);
      return send(res, 200, {
        type: 'shamir',
        initialized: true,
        sealed,
        t: 1,
        n: 1,
        progress: 0,
        nonce: '',
        ...health,
      });
    }
    if (sealed) return send(res, 503, { errors: ['Vault is sealed'] });
    const header = req.headers['x-vault-namespace'];
    const { namespace, path: inner } = namespaces.resolve(typeof header === 'string' ? header : '', path);
    const innerPath = inner.join('/');
    const body = parseBody(raw);
    const self = selfOperations[`${method} ${innerPath}`];
    const where = self ? undefined : namespaces.mounted(namespace, inner);
    const route = where ? routeTransit(where.engine, method, where.rest) : undefined;
    // Counted and faulted before the token is checked: a fault hits whatever the token.
    const operation = self ?? route?.operation;
    if (operation && (await faulted(operation, req, res, innerPath))) return;
    if (self === 'appRoleLogin') {
      return send(res, 200, envelope(null, { auth: VaultAuth.authBlock(auth.appRoleLogin(namespace, body)) }));
    }
    const tokenHeader = req.headers['x-vault-token'];
    const token = auth.authenticate(typeof tokenHeader === 'string' ? tokenHeader : undefined);
    if (self === 'lookupSelf') return send(res, 200, envelope(VaultAuth.lookupBlock(token)));
    if (self === 'renewSelf') {
      return send(res, 200, envelope(null, { auth: VaultAuth.authBlock(auth.renew(token, body['increment'])) }));
    }
    if (self === 'revokeSelf') {
      auth.revoke(token.id);
      return send(res, 204, undefined);
    }
    const acl = VaultNamespaces.aclPath(token, namespace, inner);
    const need = (capability: 'create' | 'read' | 'update') => {
      if (!auth.allows(token, acl, capability)) throw permissionDenied();
    };
    if (!route) {
      need(method === 'GET' ? 'read' : 'update');
      throw new VaultError(404, [`no handler for route "${innerPath}". route entry not found.`]);
    }
    const data = route.run(body, need) as Json;
    const ignored = route.known ? Object.keys(body).filter((k) => !route.known?.includes(k)) : [];
    const warnings =
      ignored.length > 0 ? [`Endpoint ignored these unrecognized parameters: [${ignored.join(' ')}]`] : null;
    send(res, 200, envelope(data, { warnings, mount_type: 'transit' }));
  }

  const server = await startEmulatorServer({
    caName: 'atrest HashiCorp Vault emulator CA',
    dirPrefix: 'atrest-vault-',
    port: options.port,
    certificateHosts: options.certificateHosts,
    handle,
    answerError(err, _req, res) {
      if (err instanceof VaultError) send(res, err.status, { errors: err.errors }, { ...err.headers });
      else send(res, 500, { errors: [err instanceof Error ? err.message : String(err)] });
    },
  });

  if (home !== '') namespaces.create(home);
  const mountTransit = (path: string, namespace = home) => namespaces.mountTransit(path, trimNamespace(namespace));
  mountTransit(homeMount);
  engineAt().create(firstKey, options.keyType ?? 'aes256-gcm96');
  const rootToken = auth.createToken({ policies: ['root'] }).id;
  auth.definePolicy(
    'atrest',
    {
      [`${homeMount}/encrypt/${firstKey}`]: ['update'],
      [`${homeMount}/decrypt/${firstKey}`]: ['update'],
      [`${homeMount}/rewrap/${firstKey}`]: ['update'],
      [`${homeMount}/keys/${firstKey}`]: ['read'],
    },
    home,
  );
  const serviceToken = {
    policies: ['default', 'atrest'],
    period: options.tokenPeriodSeconds ?? 86_400,
    namespace: home,
  };
  const token = auth.createToken(serviceToken).id;
  const role = auth.createAppRole(home, 'atrest', { ...serviceToken, period: 0, ttl: 3600 });

  const providerKeys: HashicorpVaultProviderKeys = {
    url: server.origin,
    token,
    transit_engine_path: homeMount,
    key_ring: firstKey,
    token_renewal_interval: '5m',
    ca_file: server.caFile,
    ...(home === '' ? {} : { namespace: home }),
  };
  const specific: Omit<HashicorpVaultEmulator, keyof EmulatorControls<HashicorpVaultOperation, HashicorpVaultFault>> = {
    ...providerKeys,
    origin: server.origin,
    providerKeys,
    rootToken,
    appRole: { role_id: role.roleId, secret_id: role.secretId },
    get sealed() {
      return sealed;
    },
    seal: () => {
      sealed = true;
    },
    unseal: () => {
      sealed = false;
    },
    createNamespace: (path) => namespaces.create(path),
    mountTransit,
    createKey: (name, o = {}) => engineAt(o).create(name, o.type ?? 'aes256-gcm96'),
    rotateKey: (name = firstKey, location = {}) => engineAt(location).rotate(name),
    setMinDecryptionVersion: (version, name = firstKey, location = {}) =>
      engineAt(location).configure(name, { min_decryption_version: version }),
    key: (name = firstKey, location = {}) => engineAt(location).read(name),
    definePolicy: (name, rules, namespace = home) => auth.definePolicy(name, rules, trimNamespace(namespace)),
    createToken: (o = {}) => auth.createToken({ ...o, namespace: trimNamespace(o.namespace ?? home) }).id,
    createAppRole: (name, o = {}) => {
      const r = auth.createAppRole(trimNamespace(o.namespace ?? home), name, o);
      return { role_id: r.roleId, secret_id: r.secretId };
    },
    revokeToken: (id) => auth.revoke(id),
    expireToken: (id) => auth.expire({ id }),
    expireAppRoleTokens: () => auth.expire({ path: 'auth/approle/login' }),
    tokenTtl: (id) => {
      try {
        return VaultAuth.ttlOf(auth.authenticate(id));
      } catch {
        return 0;
      }
    },
  };
  // Assigned onto the controls, whose `calls` getter must stay a getter; `sealed` is copied as a getter.
  const emulator = emulatorControls(server, calls, faults);
  Object.defineProperties(emulator, Object.getOwnPropertyDescriptors(specific));
  return emulator as HashicorpVaultEmulator;
}
