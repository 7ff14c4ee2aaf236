// The `[security.encryption.azurekv.<name>]` section: its schema (convict form, validated by core)
// and the checks and conversions that need the whole section (required keys, URLs). Retries and
// timeouts use the provider kit's vocabulary; `max_retries` is the deprecated form of `max_attempts`.
import { configProblem, readCaBundle, readRetrySettings, retryConfigSchema } from '@atrest/core';
import type { Logger, ProviderConfigSchema, RenamedRetryKey, RetryConfig, RetrySettings } from '@atrest/core';

/** The wrapping algorithms offered; both are RSA-OAEP, with SHA-256 or SHA-1. */
export const wrapAlgorithms = ['RSA-OAEP-256', 'RSA-OAEP'] as const;
export type WrapAlgorithm = (typeof wrapAlgorithms)[number];

/** The section as core passes it: keys as in `configSchema`. */
export type AzureKeyVaultConfig = RetryConfig & {
  readonly tenant_id?: string;
  readonly client_id?: string;
  readonly client_secret?: string;
  readonly key_id?: string;
  readonly vault_uri?: string;
  readonly key_version?: string;
  readonly algorithm?: string;
  readonly authority_host?: string;
  readonly ca_file?: string;
  /** Deprecated: max_attempts, one more. */
  readonly max_retries?: number | string;
};

const RETRY_DEFAULTS: RetrySettings = {
  maxAttempts: 5,
  requestTimeoutMs: 15_000,
  retryDelayMs: 250,
  maxRetryDelayMs: 10_000,
  totalTimeoutMs: 120_000,
};
// max_retries counted the retries; max_attempts counts the first attempt too.
const RENAMED: readonly RenamedRetryKey[] = [{ old: 'max_retries', key: 'max_attempts', convert: (n) => n + 1 }];

export const azureKeyVaultConfigSchema: ProviderConfigSchema = {
  tenant_id: {
    doc:
      'Directory (tenant) ID of the application registration. With no client_secret: passed to the ' +
      'Azure default credential chain.',
    format: String,
    default: '',
  },
  client_id: {
    doc:
      'Application (client) ID of the application registration. With no client_secret: the client ID ' +
      'of a user-assigned managed identity or workload identity.',
    format: String,
    default: '',
  },
  client_secret: {
    doc:
      "The application's client secret (its VALUE, not its ID). Unset: the Azure default credential " +
      'chain (environment, workload identity, managed identity…).',
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
    doc:
      'Pin new wrapping to this key version. Unset: the latest version of the key (unwrapping always ' +
      'uses the version that wrapped).',
    format: String,
    default: '',
  },
  algorithm: {
    doc:
      'Wrapping algorithm for new data keys: RSA-OAEP-256 (default) or RSA-OAEP. Existing wrapped ' +
      'keys record their own.',
    format: [...wrapAlgorithms],
    default: 'RSA-OAEP-256',
  },
  authority_host: {
    doc:
      'Microsoft Entra ID authority host, e.g. https://login.microsoftonline.us for US Government. ' +
      'Unset: AZURE_AUTHORITY_HOST, else the public cloud.',
    format: String,
    default: '',
  },
  ca_file: {
    doc:
      "PEM file of CA certificates trusted in addition to Node's defaults, for the vault and the " +
      'token endpoint (TLS inspection proxies, private clouds).',
    format: String,
    default: '',
  },
  ...retryConfigSchema(RETRY_DEFAULTS, RENAMED),
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
  readonly retry: RetrySettings;
};

const VAULT_EXAMPLE = 'https://my-vault-name.vault.azure.net';

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = String(value).trim();
  return s === '' ? undefined : s;
}

/**
 * Check the section of provider `id` and convert it; errors name the key and say what is allowed.
 * `logger` hears of deprecated keys.
 */
export function parseAzureKeyVaultSettings(
  id: string,
  config: AzureKeyVaultConfig,
  logger: Logger,
): AzureKeyVaultSettings {
  const vaultText = text(config.vault_uri);
  if (vaultText === undefined)
    throw configProblem(id, 'vault_uri', 'is required', `Give the URL of the vault, e.g. ${VAULT_EXAMPLE}.`);
  let vault: URL;
  try {
    vault = new URL(vaultText);
  } catch (err) {
    throw configProblem(id, 'vault_uri', `"${vaultText}" is not a URL`, `Give e.g. ${VAULT_EXAMPLE}.`, err);
  }
  if (vault.protocol !== 'https:') {
    throw configProblem(id, 'vault_uri', `"${vaultText}" must use https://`, `Give e.g. ${VAULT_EXAMPLE}.`);
  }
  if (
    (vault.pathname !== '/' && vault.pathname !== '') ||
    vault.search !== '' ||
    vault.hash !== '' ||
    vault.username !== '' ||
    vault.password !== ''
  ) {
    throw configProblem(
      id,
      'vault_uri',
      `"${vaultText}" must be the vault's base URL only (no path, query or credentials)`,
      `Give e.g. ${VAULT_EXAMPLE}.`,
    );
  }

  const keyName = text(config.key_id);
  if (keyName === undefined) throw configProblem(id, 'key_id', 'is required', 'Give the name of the key in the vault.');
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(keyName)) {
    throw configProblem(
      id,
      'key_id',
      `"${keyName}" is not a key name (1-127 letters, digits and dashes)`,
      'Give the name only; the vault goes in vault_uri and a version in key_version.',
    );
  }
  const keyVersion = text(config.key_version);
  if (keyVersion !== undefined && !/^[0-9a-zA-Z]{1,64}$/.test(keyVersion)) {
    throw configProblem(
      id,
      'key_version',
      `"${keyVersion}" is not a key version`,
      'Give letters and digits only, e.g. 78deebed173b48e48f55abf87ed4cf71.',
    );
  }

  const algorithm = text(config.algorithm) ?? 'RSA-OAEP-256';
  if (!(wrapAlgorithms as readonly string[]).includes(algorithm))
    throw configProblem(id, 'algorithm', `"${algorithm}" is not one of ${wrapAlgorithms.join(', ')}`, 'Pick one.');

  const clientSecret = text(config.client_secret);
  const tenantId = text(config.tenant_id);
  const clientId = text(config.client_id);
  if (clientSecret !== undefined && tenantId === undefined)
    throw configProblem(
      id,
      'tenant_id',
      'is required with client_secret',
      'Give the Directory (tenant) ID of the application.',
    );
  if (clientSecret !== undefined && clientId === undefined)
    throw configProblem(id, 'client_id', 'is required with client_secret', 'Give the Application (client) ID.');

  let authorityHost = text(config.authority_host);
  if (authorityHost !== undefined) {
    let url: URL;
    try {
      url = new URL(authorityHost);
    } catch (err) {
      throw configProblem(
        id,
        'authority_host',
        `"${authorityHost}" is not a URL`,
        'Give e.g. https://login.microsoftonline.com.',
        err,
      );
    }
    if (url.protocol !== 'https:') {
      throw configProblem(id, 'authority_host', `"${authorityHost}" must use https://`, 'Give an https:// URL.');
    }
    authorityHost = url.origin + url.pathname.replace(/\/+$/, '');
  }

  const caFile = text(config.ca_file);
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
    caCertificates: caFile === undefined ? undefined : readCaBundle(id, caFile),
    retry: readRetrySettings(id, config, RETRY_DEFAULTS, logger, RENAMED),
  };
}
