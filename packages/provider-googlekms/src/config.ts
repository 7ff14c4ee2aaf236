// The `[security.encryption.googlekms.<name>]` section: Grafana's keys (key_id, credentials_file),
// plus endpoint, ca_file and the provider kit's retry keys; and the checks that turn the validated
// values into settings. Without credentials_file, Google's application default credentials apply.
import { readFileSync } from 'node:fs';
import { configProblem, readCaBundle, readRetrySettings, retryConfigSchema } from '@atrest/core';
import type { Logger, ProviderConfigSchema, RetryConfig, RetrySettings } from '@atrest/core';

/** The section's keys, as core's config layer passes them (`''` for unset). */
export type GoogleKmsConfig = RetryConfig & {
  readonly key_id: string;
  readonly credentials_file?: string;
  readonly endpoint?: string;
  readonly ca_file?: string;
};

const RETRY_DEFAULTS: RetrySettings = {
  maxAttempts: 4,
  requestTimeoutMs: 10_000,
  retryDelayMs: 200,
  maxRetryDelayMs: 10_000,
  totalTimeoutMs: 60_000,
};

export const googleKmsConfigSchema: ProviderConfigSchema = {
  key_id: {
    doc: "The crypto key's resource name, projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>",
    format: String,
    default: '',
  },
  credentials_file: {
    doc: "Full path of the service account key (JSON); unset: Google's application default credentials",
    format: String,
    default: '',
  },
  endpoint: {
    doc: 'Cloud KMS endpoint, https://host[:port] (a private endpoint; default https://cloudkms.googleapis.com)',
    format: String,
    default: '',
  },
  ca_file: {
    doc: 'PEM file of CA certificates trusted for the KMS and token endpoints, in addition to the default roots',
    format: String,
    default: '',
  },
  ...retryConfigSchema(RETRY_DEFAULTS),
};

/** The parts of a service account key file the provider uses (the private key stays in the library). */
export type ServiceAccountFile = {
  readonly path: string;
  readonly clientEmail: string;
  readonly privateKey: string;
  readonly privateKeyId: string | undefined;
  /** The OAuth 2.0 token endpoint the file names. */
  readonly tokenUri: string;
};

/** Checked settings of one provider instance. */
export type GoogleKmsSettings = {
  readonly id: string;
  readonly keyName: string;
  /** Undefined: application default credentials. */
  readonly serviceAccount: ServiceAccountFile | undefined;
  /** `https://host:port`; undefined: Google's. */
  readonly endpoint: URL | undefined;
  readonly caFile: string | undefined;
  readonly caCertificates: readonly string[] | undefined;
  readonly retry: RetrySettings;
};

const KEY_NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;
const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');

function readServiceAccount(id: string, path: string): ServiceAccountFile {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'not JSON';
    throw configProblem(
      id,
      'credentials_file',
      `${path} cannot be read (${why})`,
      'Give the service account key JSON file.',
      err,
    );
  }
  const field = (name: string) => (typeof json[name] === 'string' ? (json[name] as string) : '');
  if (field('type') !== 'service_account' || field('client_email') === '' || field('private_key') === '') {
    throw configProblem(
      id,
      'credentials_file',
      `${path} is not a service account key (type "service_account" with client_email and private_key)`,
      'Create a key for the service account (IAM > Service accounts > Keys > Add key > JSON) and give its file.',
    );
  }
  const tokenUri = field('token_uri') || 'https://oauth2.googleapis.com/token';
  if (!tokenUri.startsWith('https://')) {
    throw configProblem(id, 'credentials_file', `${path}: token_uri must be an https:// URL`, 'Fix the key file.');
  }
  return {
    path,
    clientEmail: field('client_email'),
    privateKey: field('private_key'),
    privateKeyId: field('private_key_id') || undefined,
    tokenUri,
  };
}

/** Check the section of provider `id`, read its key file and CA file. */
export function parseGoogleKmsSettings(id: string, config: GoogleKmsConfig, logger: Logger): GoogleKmsSettings {
  const keyName = text(config.key_id);
  if (!KEY_NAME.test(keyName)) {
    throw configProblem(
      id,
      'key_id',
      keyName === '' ? 'is required' : `"${keyName}" is not a crypto key's resource name`,
      'Give projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key> (not a key version: ' +
        'decryption needs the crypto key).',
    );
  }
  const endpointText = text(config.endpoint);
  let endpoint: URL | undefined;
  if (endpointText !== '') {
    try {
      endpoint = new URL(endpointText);
    } catch (err) {
      throw configProblem(id, 'endpoint', `"${endpointText}" is not a URL`, 'Give https://host[:port].', err);
    }
    if (
      endpoint.protocol !== 'https:' ||
      endpoint.username !== '' ||
      endpoint.pathname !== '/' ||
      endpoint.search !== ''
    ) {
      throw configProblem(
        id,
        'endpoint',
        `"${endpointText}" must be https://host[:port] only`,
        'Give https://host[:port].',
      );
    }
  }
  const credentialsFile = text(config.credentials_file);
  const caFile = text(config.ca_file) || undefined;
  return {
    id,
    keyName,
    serviceAccount: credentialsFile === '' ? undefined : readServiceAccount(id, credentialsFile),
    endpoint,
    caFile,
    caCertificates: caFile === undefined ? undefined : readCaBundle(id, caFile),
    retry: readRetrySettings(id, config, RETRY_DEFAULTS, logger),
  };
}
