// The `[security.encryption.azurekv.<name>]` section: its schema (convict form, validated by core)
// and the checks and conversions that need the whole section (required keys, URLs, durations).
import { readFileSync } from 'node:fs';
import { AtrestError } from '@atrest/core';
import type { ProviderConfigSchema } from '@atrest/core';

/** The wrapping algorithms offered; both are RSA-OAEP, with SHA-256 or SHA-1. */
export const wrapAlgorithms = ['RSA-OAEP-256', 'RSA-OAEP'] as const;
export type WrapAlgorithm = (typeof wrapAlgorithms)[number];

/** The section as core passes it: keys as in `configSchema`. */
export type AzureKeyVaultConfig = {
  readonly tenant_id?: string;
  readonly client_id?: string;
  readonly client_secret?: string;
  readonly key_id?: string;
  readonly vault_uri?: string;
  readonly key_version?: string;
  readonly algorithm?: string;
  readonly authority_host?: string;
  readonly ca_file?: string;
  readonly max_retries?: number | string;
  readonly retry_delay?: number | string;
  readonly max_retry_delay?: number | string;
  readonly request_timeout?: number | string;
};

export const configSchema: ProviderConfigSchema = {
  tenant_id: {
    doc: 'Directory (tenant) ID of the application registration. With no client_secret: passed to the Azure default credential chain.',
    format: String,
    default: '',
  },
  client_id: {
    doc: 'Application (client) ID of the application registration. With no client_secret: the client ID of a user-assigned managed identity or workload identity.',
    format: String,
    default: '',
  },
  client_secret: {
    doc: "The application's client secret (its VALUE, not its ID). Unset: the Azure default credential chain (environment, workload identity, managed identity…).",
    format: String,
    default: '',
    sensitive: true,
  },
  key_id: {
    doc: 'Name of the key in the vault (an RSA key allowing wrapKey and unwrapKey), e.g. mysecretkey.',
    format: String,
    default: '',
  },
  vault_uri: {
    doc: 'URL of the vault, e.g. https://my-vault-name.vault.azure.net',
    format: String,
    default: '',
  },
  key_version: {
    doc: 'Pin new wrapping to this key version. Unset: the latest version of the key (unwrapping always uses the version that wrapped).',
    format: String,
    default: '',
  },
  algorithm: {
    doc: 'Wrapping algorithm for new data keys: RSA-OAEP-256 (default) or RSA-OAEP. Existing wrapped keys record their own.',
    format: [...wrapAlgorithms],
    default: 'RSA-OAEP-256',
  },
  authority_host: {
    doc: 'Microsoft Entra ID authority host, e.g. https://login.microsoftonline.us for US Government. Unset: AZURE_AUTHORITY_HOST, else the public cloud.',
    format: String,
    default: '',
  },
  ca_file: {
    doc: "PEM file of CA certificates trusted in addition to Node's defaults, for the vault and the token endpoint (TLS inspection proxies, private clouds).",
    format: String,
    default: '',
  },
  max_retries: {
    doc: 'Retries of an operation after throttling (429), server errors (5xx), timeouts or dropped connections.',
    format: 'nat',
    default: 4,
  },
  retry_delay: {
    doc: 'First retry delay (a duration such as 250ms, or milliseconds); doubled each retry, with jitter.',
    format: 'duration',
    default: 250,
  },
  max_retry_delay: {
    doc: 'Longest delay between two retries (a duration such as 10s), also the cap on a Retry-After header.',
    format: 'duration',
    default: 10_000,
  },
  request_timeout: {
    doc: 'Time limit of one attempt of an operation, token, key lookup and wrap/unwrap included (a duration such as 15s).',
    format: 'duration',
    default: 15_000,
  },
};

/** The section, checked and converted. */
export type AzureKeyVaultSettings = {
  readonly vaultUrl: string;
  /** `https://host[:port]` of the vault. */
  readonly vaultOrigin: string;
  readonly keyName: string;
  readonly keyVersion: string | undefined;
  readonly algorithm: WrapAlgorithm;
  readonly tenantId: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly authorityHost: string | undefined;
  readonly caFile: string | undefined;
  /** PEM certificates read from `caFile`. */
  readonly caCertificates: readonly string[] | undefined;
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly requestTimeoutMs: number;
};

const durationUnits: Readonly<Record<string, number>> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
};

/** Parse a duration: milliseconds as a number, or `250ms`, `10s`, `2 minutes`… */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = durationUnits[(match[2] ?? '').toLowerCase() || 'ms'];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = String(value).trim();
  return s === '' ? undefined : s;
}

/** Check the section of provider `id` and convert it; errors name the key and say what is allowed. */
export function readSettings(id: string, config: AzureKeyVaultConfig): AzureKeyVaultSettings {
  const section = `[security.encryption.${id}]`;
  const invalid = (key: string, message: string, cause?: unknown): AtrestError =>
    new AtrestError('ATREST_CONFIG_INVALID', `${section} ${key}: ${message}`, {
      details: { provider: id, key },
      ...(cause === undefined ? {} : { cause }),
    });

  const vaultText = text(config.vault_uri);
  if (vaultText === undefined)
    throw invalid('vault_uri', 'is required: the URL of the vault, e.g. https://my-vault-name.vault.azure.net');
  let vault: URL;
  try {
    vault = new URL(vaultText);
  } catch (err) {
    throw invalid('vault_uri', `"${vaultText}" is not a URL; expected e.g. https://my-vault-name.vault.azure.net`, err);
  }
  if (vault.protocol !== 'https:') throw invalid('vault_uri', `"${vaultText}" must use https://`);
  if (
    (vault.pathname !== '/' && vault.pathname !== '') ||
    vault.search !== '' ||
    vault.hash !== '' ||
    vault.username !== '' ||
    vault.password !== ''
  ) {
    throw invalid(
      'vault_uri',
      `"${vaultText}" must be the vault's base URL only (no path, query or credentials), e.g. https://my-vault-name.vault.azure.net`,
    );
  }

  const keyName = text(config.key_id);
  if (keyName === undefined) throw invalid('key_id', 'is required: the name of the key in the vault');
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(keyName)) {
    throw invalid(
      'key_id',
      `"${keyName}" is not a key name (1-127 letters, digits and dashes); give the name only, the vault goes in vault_uri and a version in key_version`,
    );
  }
  const keyVersion = text(config.key_version);
  if (keyVersion !== undefined && !/^[0-9a-zA-Z]{1,64}$/.test(keyVersion)) {
    throw invalid(
      'key_version',
      `"${keyVersion}" is not a key version (letters and digits, e.g. 78deebed173b48e48f55abf87ed4cf71)`,
    );
  }

  const algorithm = text(config.algorithm) ?? 'RSA-OAEP-256';
  if (!(wrapAlgorithms as readonly string[]).includes(algorithm))
    throw invalid('algorithm', `"${algorithm}" is not one of ${wrapAlgorithms.join(', ')}`);

  const clientSecret = text(config.client_secret);
  const tenantId = text(config.tenant_id);
  const clientId = text(config.client_id);
  if (clientSecret !== undefined && tenantId === undefined)
    throw invalid('tenant_id', 'is required with client_secret: the Directory (tenant) ID of the application');
  if (clientSecret !== undefined && clientId === undefined)
    throw invalid('client_id', 'is required with client_secret: the Application (client) ID');

  let authorityHost = text(config.authority_host);
  if (authorityHost !== undefined) {
    let url: URL;
    try {
      url = new URL(authorityHost);
    } catch (err) {
      throw invalid(
        'authority_host',
        `"${authorityHost}" is not a URL; expected e.g. https://login.microsoftonline.com`,
        err,
      );
    }
    if (url.protocol !== 'https:') throw invalid('authority_host', `"${authorityHost}" must use https://`);
    authorityHost = url.origin + url.pathname.replace(/\/+$/, '');
  }

  const caFile = text(config.ca_file);
  let caCertificates: string[] | undefined;
  if (caFile !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new AtrestError(
        'ATREST_TLS',
        `${section} ca_file: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? String(err)}); give a readable PEM file of CA certificates`,
        {
          cause: err,
          details: { provider: id, key: 'ca_file', path: caFile },
        },
      );
    }
    caCertificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (caCertificates.length === 0) {
      throw new AtrestError(
        'ATREST_TLS',
        `${section} ca_file: ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA certificates that sign the vault's and the token endpoint's certificates`,
        {
          details: { provider: id, key: 'ca_file', path: caFile },
        },
      );
    }
  }

  const number = (key: 'max_retries', fallback: number): number => {
    const raw = config[key];
    if (raw === undefined || raw === '') return fallback;
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 20)
      throw invalid(key, `"${String(raw)}" must be a whole number from 0 to 20`);
    return n;
  };
  const duration = (
    key: 'retry_delay' | 'max_retry_delay' | 'request_timeout',
    fallback: number,
    min: number,
  ): number => {
    const raw = config[key];
    const ms = parseDuration(raw === undefined || raw === '' ? fallback : raw);
    if (ms === undefined || ms < min)
      throw invalid(key, `"${String(raw)}" must be a duration of at least ${min} ms, e.g. 250ms, 10s, 1m`);
    return ms;
  };

  return {
    vaultUrl: vault.origin,
    vaultOrigin: vault.origin,
    keyName,
    keyVersion,
    algorithm: algorithm as WrapAlgorithm,
    tenantId,
    clientId,
    clientSecret,
    authorityHost,
    caFile,
    caCertificates,
    maxRetries: number('max_retries', 4),
    retryDelayMs: duration('retry_delay', 250, 0),
    maxRetryDelayMs: duration('max_retry_delay', 10_000, 0),
    requestTimeoutMs: duration('request_timeout', 15_000, 100),
  };
}
