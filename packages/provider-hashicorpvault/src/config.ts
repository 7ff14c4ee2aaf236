// The `[security.encryption.hashicorpvault.<name>]` section: Grafana's keys (token, url,
// transit_engine_path, key_ring, token_renewal_interval), plus namespace, AppRole login
// (role_id, secret_id), ca_file and the provider kit's retry keys; and the checks that turn the
// validated values into settings.
import { configProblem, readCaBundle, readRetrySettings, retryConfigSchema } from '@atrest/core';
import type { Logger, ProviderConfigSchema, RetryConfig, RetrySettings } from '@atrest/core';

/** The section's keys, as core's config layer passes them (`''` for unset). */
export type HashicorpVaultConfig = RetryConfig & {
  readonly url: string;
  readonly token?: string;
  readonly role_id?: string;
  readonly secret_id?: string;
  readonly namespace?: string;
  readonly transit_engine_path?: string;
  readonly key_ring: string;
  /** Milliseconds (core converts `5m`), or its text when a source does not coerce. */
  readonly token_renewal_interval?: number | string;
  readonly ca_file?: string;
};

const RETRY_DEFAULTS: RetrySettings = {
  maxAttempts: 4,
  requestTimeoutMs: 10_000,
  retryDelayMs: 200,
  maxRetryDelayMs: 10_000,
  totalTimeoutMs: 60_000,
};

export const hashicorpVaultConfigSchema: ProviderConfigSchema = {
  url: {
    doc: "The Vault (or OpenBao) server's URL, e.g. https://vault.example.com:8200",
    format: String,
    default: '',
  },
  token: {
    doc: 'A periodic service token allowed to encrypt, decrypt and rewrap with the key (or role_id and secret_id)',
    format: String,
    default: '',
    sensitive: true,
  },
  role_id: {
    doc: 'AppRole role ID, with secret_id: log in with AppRole (auth/approle) instead of a token',
    format: String,
    default: '',
  },
  secret_id: {
    doc: 'AppRole secret ID, with role_id',
    format: String,
    default: '',
    sensitive: true,
  },
  namespace: {
    doc: 'Vault Enterprise / OpenBao namespace of the transit engine and the login, e.g. team-a (unset: root)',
    format: String,
    default: '',
  },
  transit_engine_path: {
    doc: 'Mount path of the transit secrets engine',
    format: String,
    default: 'transit',
  },
  key_ring: {
    doc: 'Name of the transit key that wraps data keys',
    format: String,
    default: '',
  },
  token_renewal_interval: {
    doc: "How often the token is renewed (renew-self), shorter than a periodic token's period; 0: never",
    format: 'duration',
    default: 300_000,
  },
  ca_file: {
    doc: "PEM file of CA certificates trusted for Vault's certificate, in addition to the default roots",
    format: String,
    default: '',
  },
  ...retryConfigSchema(RETRY_DEFAULTS),
};

/** How the provider authenticates. */
export type VaultLogin =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'approle'; readonly roleId: string; readonly secretId: string };

/** Checked settings of one provider instance. */
export type HashicorpVaultSettings = {
  readonly id: string;
  /** The server's origin, `https://host:port`. */
  readonly url: URL;
  readonly login: VaultLogin;
  /** '' for the root namespace; no leading or trailing slash. */
  readonly namespace: string;
  readonly mount: string;
  readonly keyName: string;
  /** 0: no renewal. */
  readonly renewalIntervalMs: number;
  readonly caFile: string | undefined;
  readonly caCertificates: readonly string[] | undefined;
  readonly retry: RetrySettings;
};

const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');
const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

function readUrl(id: string, value: string): URL {
  if (value === '')
    throw configProblem(id, 'url', 'is required', "Give the Vault server's URL, e.g. https://vault:8200.");
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw configProblem(id, 'url', `"${value}" is not a URL`, 'Give https://host[:port].', err);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || url.pathname !== '/') {
    throw configProblem(
      id,
      'url',
      `"${value}" must be the server's address only (no path, query or credentials)`,
      'Give https://host[:port]; the mount goes in transit_engine_path, the token in token.',
    );
  }
  // Plain HTTP would send data keys and the token unencrypted: refused, except on loopback, where a
  // development server (`vault server -dev`, `bao server -dev`) listens.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw configProblem(
      id,
      'url',
      `must be an https:// URL (got ${url.protocol}//…)`,
      'Plain http:// is accepted on loopback only.',
    );
  }
  return url;
}

function readDuration(id: string, key: string, value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0) {
    // The configuration layer turns `5m` into milliseconds (format 'duration'); code passes milliseconds.
    throw configProblem(id, key, `is ${JSON.stringify(value)}, not a duration`, 'Give a duration such as 5m or 30s.');
  }
  return n;
}

/** Check the section of provider `id` and read its CA file; `logger` hears of deprecated keys. */
export function parseHashicorpVaultSettings(
  id: string,
  config: HashicorpVaultConfig,
  logger: Logger,
): HashicorpVaultSettings {
  const url = readUrl(id, text(config.url));
  const token = text(config.token);
  const roleId = text(config.role_id);
  const secretId = text(config.secret_id);
  if (token !== '' && (roleId !== '' || secretId !== '')) {
    throw configProblem(
      id,
      'token',
      'and role_id/secret_id are both set',
      'Log in with a token or with AppRole, not both.',
    );
  }
  if ((roleId === '') !== (secretId === '')) {
    const missing = roleId === '' ? 'role_id' : 'secret_id';
    throw configProblem(id, missing, 'is required for an AppRole login', 'Set role_id and secret_id together.');
  }
  if (token === '' && roleId === '') {
    throw configProblem(id, 'token', 'is required (or role_id and secret_id)', 'Give a periodic service token.');
  }
  const login: VaultLogin = token !== '' ? { kind: 'token', token } : { kind: 'approle', roleId, secretId };
  const mount = text(config.transit_engine_path || 'transit').replace(/^\/+|\/+$/g, '');
  if (!/^[\w.-]+(?:\/[\w.-]+)*$/.test(mount)) {
    throw configProblem(id, 'transit_engine_path', `"${mount}" is not a mount path`, 'Give the mount, e.g. transit.');
  }
  const keyName = text(config.key_ring);
  if (!/^[\w.-]+$/.test(keyName)) {
    throw configProblem(
      id,
      'key_ring',
      keyName === '' ? 'is required' : `"${keyName}" is not a transit key name`,
      'Give the name of the transit key (letters, digits, _ . -).',
    );
  }
  const namespace = text(config.namespace).replace(/^\/+|\/+$/g, '');
  const caFile = text(config.ca_file) || undefined;
  return {
    id,
    url,
    login,
    namespace,
    mount,
    keyName,
    renewalIntervalMs: readDuration(id, 'token_renewal_interval', config.token_renewal_interval, 300_000),
    caFile,
    caCertificates: caFile === undefined ? undefined : readCaBundle(id, caFile),
    retry: readRetrySettings(id, config, RETRY_DEFAULTS, logger),
  };
}
