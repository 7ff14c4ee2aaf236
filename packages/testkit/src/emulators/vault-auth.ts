// Who may call the Vault emulator: service tokens (TTL, periodic tokens, explicit max TTL,
// renew-self, revocation), ACL policies (path globs and capabilities, `deny` winning), and AppRole
// logins, each living in a namespace. Error bodies are Vault's (`permission denied`, `invalid token`).
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { VaultError, invalidToken } from './vault-error.js';

/** A capability of Vault's ACL. */
export type VaultCapability = 'create' | 'read' | 'update' | 'delete' | 'list' | 'sudo' | 'deny';

/** Policy rules: a path (a trailing `*` matches any rest, `+` one segment) → capabilities. */
export type VaultPolicyRules = Readonly<Record<string, readonly VaultCapability[]>>;

/** What a new token gets. Times are in seconds. */
export type VaultTokenOptions = {
  /** Policies (default `['default']`); `root` allows everything. */
  readonly policies?: readonly string[];
  /** The namespace the token lives in (default: the root namespace, ''). */
  readonly namespace?: string;
  /** Lifetime (default 3600). Ignored for a periodic token. */
  readonly ttl?: number;
  /** A periodic token: each renewal gives it `period` seconds again. */
  readonly period?: number;
  /** A hard limit past which no renewal goes (default: none). */
  readonly explicitMaxTtl?: number;
  /** Default true. */
  readonly renewable?: boolean;
};

/** A token the emulator issued. */
export type VaultToken = {
  readonly id: string;
  readonly accessor: string;
  readonly namespace: string;
  readonly policies: readonly string[];
  readonly period: number;
  readonly creationTtl: number;
  readonly renewable: boolean;
  readonly path: string;
  readonly issuedAt: number;
  /** Epoch ms; Infinity for a token that does not expire (root). */
  expiresAt: number;
  readonly maxExpiresAt: number;
  revoked: boolean;
};

/** An AppRole role and the one secret id it accepts. */
export type VaultAppRole = {
  readonly namespace: string;
  readonly name: string;
  readonly roleId: string;
  readonly secretId: string;
  readonly token: VaultTokenOptions;
};

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function tokenId(prefix: string): string {
  const bytes = randomBytes(24);
  return prefix + Array.from(bytes, (b) => BASE62[b % BASE62.length]).join('');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function globMatches(glob: string, path: string): boolean {
  const prefix = glob.endsWith('*');
  const pattern = (prefix ? glob.slice(0, -1) : glob).split('/');
  const parts = path.split('/');
  if (!prefix && parts.length !== pattern.length) return false;
  if (prefix && parts.length < pattern.length) return false;
  return pattern.every((segment, i) => {
    const part = parts[i] ?? '';
    if (segment === '+') return true;
    // The last segment of a prefix glob matches as a string prefix (`transit/encr*`).
    return prefix && i === pattern.length - 1 ? part.startsWith(segment) : part === segment;
  });
}

/** Tokens, policies and AppRole roles of one emulated Vault. */
export class VaultAuth {
  readonly #tokens = new Map<string, VaultToken>();
  readonly #policies = new Map<string, VaultPolicyRules>();
  readonly #roles: VaultAppRole[] = [];

  definePolicy(name: string, rules: VaultPolicyRules, namespace = ''): void {
    this.#policies.set(`${namespace}\u0000${name}`, rules);
  }

  createToken(options: VaultTokenOptions = {}, path = 'auth/token/create'): VaultToken {
    const now = Date.now();
    const period = options.period ?? 0;
    const ttl = period > 0 ? period : (options.ttl ?? 3600);
    const maxExpiresAt = options.explicitMaxTtl ? now + options.explicitMaxTtl * 1000 : Number.POSITIVE_INFINITY;
    const root = (options.policies ?? []).includes('root') && options.ttl === undefined && period === 0;
    const token: VaultToken = {
      id: tokenId('hvs.'),
      accessor: tokenId(''),
      namespace: options.namespace ?? '',
      policies: [...(options.policies ?? ['default'])],
      period,
      creationTtl: root ? 0 : ttl,
      renewable: root ? false : (options.renewable ?? true),
      path,
      issuedAt: now,
      expiresAt: root ? Number.POSITIVE_INFINITY : Math.min(now + ttl * 1000, maxExpiresAt),
      maxExpiresAt,
      revoked: false,
    };
    this.#tokens.set(token.id, token);
    return token;
  }

  /** The live token a request carries, or `invalid token`. */
  authenticate(id: string | undefined): VaultToken {
    const token = id === undefined ? undefined : this.#tokens.get(id);
    if (!token || token.revoked || token.expiresAt <= Date.now()) throw invalidToken();
    return token;
  }

  /** Whether `token`'s policies allow `capability` on `path` (relative to the token's namespace). */
  allows(token: VaultToken, path: string, capability: VaultCapability): boolean {
    if (token.policies.includes('root')) return true;
    const granted = new Set<VaultCapability>();
    for (const name of token.policies) {
      const rules = this.#policies.get(`${token.namespace}\u0000${name}`) ?? {};
      for (const [glob, capabilities] of Object.entries(rules)) {
        if (globMatches(glob, path)) for (const c of capabilities) granted.add(c);
      }
    }
    return !granted.has('deny') && granted.has(capability);
  }

  /** `auth/token/renew-self`: a periodic token gets its period again, another `increment` up to its limit. */
  renew(token: VaultToken, increment: unknown): VaultToken {
    if (!token.renewable) throw new VaultError(400, ['lease is not renewable']);
    const seconds = token.period > 0 ? token.period : Number(increment) > 0 ? Number(increment) : token.creationTtl;
    token.expiresAt = Math.min(Date.now() + seconds * 1000, token.maxExpiresAt);
    return token;
  }

  revoke(id: string): void {
    const token = this.#tokens.get(id);
    if (token) token.revoked = true;
  }

  /** Make tokens expire now (a test's stand-in for waiting out their TTL): `id`, or those `path` issued. */
  expire(which: { readonly id?: string; readonly path?: string }): void {
    for (const token of this.#tokens.values()) {
      if (token.id === which.id || token.path === which.path) token.expiresAt = Date.now() - 1;
    }
  }

  createAppRole(namespace: string, name: string, token: VaultTokenOptions): VaultAppRole {
    const role: VaultAppRole = { namespace, name, roleId: randomUUID(), secretId: randomUUID(), token };
    this.#roles.push(role);
    return role;
  }

  /** `auth/approle/login` in `namespace`: a token carrying the role's policies. */
  appRoleLogin(namespace: string, body: Readonly<Record<string, unknown>>): VaultToken {
    const roleId = body['role_id'];
    const secretId = body['secret_id'];
    if (typeof roleId !== 'string' || roleId === '') throw new VaultError(400, ['missing role_id']);
    const role = this.#roles.find((r) => r.namespace === namespace && same(r.roleId, roleId));
    if (!role || typeof secretId !== 'string' || !same(role.secretId, secretId)) {
      throw new VaultError(400, ['invalid role or secret ID']);
    }
    return this.createToken({ ...role.token, namespace }, 'auth/approle/login');
  }

  /** The `auth` block of a login or renewal. */
  static authBlock(token: VaultToken): Record<string, unknown> {
    return {
      client_token: token.id,
      accessor: token.accessor,
      policies: token.policies,
      token_policies: token.policies,
      metadata: null,
      lease_duration: VaultAuth.ttlOf(token),
      renewable: token.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: token.path === 'auth/approle/login',
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  /** The `data` block of `auth/token/lookup-self`. */
  static lookupBlock(token: VaultToken): Record<string, unknown> {
    const expire = Number.isFinite(token.expiresAt) ? new Date(token.expiresAt).toISOString() : null;
    return {
      accessor: token.accessor,
      creation_time: Math.floor(token.issuedAt / 1000),
      creation_ttl: token.creationTtl,
      display_name: token.path === 'auth/approle/login' ? 'approle' : 'token',
      entity_id: '',
      expire_time: expire,
      explicit_max_ttl: Number.isFinite(token.maxExpiresAt)
        ? Math.round((token.maxExpiresAt - token.issuedAt) / 1000)
        : 0,
      id: token.id,
      issue_time: new Date(token.issuedAt).toISOString(),
      meta: null,
      num_uses: 0,
      orphan: token.path === 'auth/approle/login',
      path: token.path,
      period: token.period > 0 ? token.period : undefined,
      policies: token.policies,
      renewable: token.renewable,
      ttl: VaultAuth.ttlOf(token),
      type: 'service',
      namespace_path: token.namespace === '' ? '' : `${token.namespace}/`,
    };
  }

  static ttlOf(token: VaultToken): number {
    return Number.isFinite(token.expiresAt) ? Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000)) : 0;
  }
}
