// The `[security.encryption.awskms.<name>]` section: its schema (convict form) and the checks that
// turn the validated values into settings the provider can use. Retries and timeouts use the
// provider kit's vocabulary; `timeout` is the deprecated name of `request_timeout`.
import { configProblem, readCaBundle, readRetrySettings, retryConfigSchema } from '@atrest/core';
import type { Logger, ProviderConfigSchema, RenamedRetryKey, RetryConfig, RetrySettings } from '@atrest/core';

/** The section's keys, as core's config layer passes them (`''` for unset). */
export type AwsKmsConfig = RetryConfig & {
  readonly key_id: string;
  readonly region?: string;
  readonly access_key_id?: string;
  readonly secret_access_key?: string;
  readonly session_token?: string;
  readonly endpoint?: string;
  readonly ca_file?: string;
  /** Deprecated: request_timeout. */
  readonly timeout?: number | string;
};

/** Retries of the AWS SDK's standard mode, in the kit's vocabulary. */
const RETRY_DEFAULTS: RetrySettings = {
  maxAttempts: 3,
  requestTimeoutMs: 10_000,
  retryDelayMs: 100,
  maxRetryDelayMs: 20_000,
  totalTimeoutMs: 120_000,
};
const RENAMED: readonly RenamedRetryKey[] = [{ old: 'timeout', key: 'request_timeout' }];

export const awsKmsConfigSchema: ProviderConfigSchema = {
  key_id: {
    doc: 'The KMS key that wraps data keys: key id, key ARN, alias name (alias/…) or alias ARN',
    format: String,
    default: '',
  },
  region: {
    doc:
      "AWS region of the key, e.g. eu-north-1 (default: the key ARN's region, else the AWS default " +
      'chain: AWS_REGION, profile)',
    format: String,
    default: '',
  },
  access_key_id: {
    doc: 'AWS access key id (unset: the AWS default credential chain)',
    format: String,
    default: '',
  },
  secret_access_key: {
    doc: 'AWS secret access key, with access_key_id',
    format: String,
    default: '',
    sensitive: true,
  },
  session_token: {
    doc: 'AWS session token of temporary credentials, with access_key_id and secret_access_key',
    format: String,
    default: '',
    sensitive: true,
  },
  endpoint: {
    doc: 'KMS endpoint URL (https://…), e.g. a VPC endpoint (default: the regional AWS endpoint)',
    format: 'url',
    default: '',
  },
  ca_file: {
    doc: "PEM file of CA certificates trusted for this provider's connections, in addition to the default roots",
    format: String,
    default: '',
  },
  ...retryConfigSchema(RETRY_DEFAULTS, RENAMED),
};

/** Checked settings of one provider instance. */
export type AwsKmsSettings = {
  readonly id: string;
  readonly keyId: string;
  /** Undefined: resolved by the AWS default chain. */
  readonly region: string | undefined;
  /** Undefined: the AWS default credential chain. */
  readonly credentials:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | undefined;
  readonly endpoint: URL | undefined;
  readonly caFile: string | undefined;
  /** The PEM certificates of `caFile`. */
  readonly caCertificates: readonly string[] | undefined;
  readonly retry: RetrySettings;
};

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
const ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** Check the section of provider `id` and read its CA file; `logger` hears of deprecated keys. */
export function parseAwsKmsSettings(id: string, config: AwsKmsConfig, logger: Logger): AwsKmsSettings {
  const keyId = text(config.key_id);
  if (keyId === '') {
    throw configProblem(
      id,
      'key_id',
      'is required',
      'Give the KMS key id, key ARN, alias name (alias/…) or alias ARN.',
    );
  }
  const arn = ARN.exec(keyId);
  if (!arn && !KEY_ID.test(keyId) && !ALIAS_NAME.test(keyId)) {
    throw configProblem(
      id,
      'key_id',
      `"${keyId}" is not a KMS key reference`,
      'Use a key id (1234abcd-12ab-34cd-56ef-1234567890ab), a key ARN (arn:aws:kms:<region>:<account>:key/<id>), ' +
        'an alias name (alias/<name>) or an alias ARN (arn:aws:kms:<region>:<account>:alias/<name>).',
    );
  }
  let region: string | undefined = text(config.region) || undefined;
  const arnRegion = arn?.[1];
  if (region !== undefined && arnRegion !== undefined && region !== arnRegion) {
    throw configProblem(
      id,
      'region',
      `is ${region} but key_id is an ARN in ${arnRegion}`,
      `Set region = ${arnRegion} or leave it unset.`,
    );
  }
  region ??= arnRegion;

  const accessKeyId = text(config.access_key_id);
  const secretAccessKey = text(config.secret_access_key);
  const sessionToken = text(config.session_token);
  if (accessKeyId !== '' && secretAccessKey === '')
    throw configProblem(id, 'secret_access_key', 'is required with access_key_id', 'Set both, or neither.');
  if (accessKeyId === '' && secretAccessKey !== '')
    throw configProblem(id, 'access_key_id', 'is required with secret_access_key', 'Set both, or neither.');
  if (sessionToken !== '' && accessKeyId === '') {
    throw configProblem(
      id,
      'session_token',
      'needs access_key_id and secret_access_key',
      'Set the temporary credentials it belongs to.',
    );
  }
  const credentials =
    accessKeyId === '' ? undefined : { accessKeyId, secretAccessKey, ...(sessionToken === '' ? {} : { sessionToken }) };

  const endpointText = text(config.endpoint);
  let endpoint: URL | undefined;
  if (endpointText !== '') {
    try {
      endpoint = new URL(endpointText);
    } catch {
      throw configProblem(id, 'endpoint', `"${endpointText}" is not a URL`, 'Give https://host[:port].');
    }
    if (endpoint.username !== '' || endpoint.password !== '') {
      throw configProblem(
        id,
        'endpoint',
        'must not carry credentials (user:password@)',
        'Use access_key_id and secret_access_key.',
      );
    }
    // Plain HTTP would send data keys unencrypted and skip server verification: refused, except to
    // this machine's loopback, where local KMS implementations (local-kms, moto) listen.
    if (endpoint.protocol !== 'https:' && !(endpoint.protocol === 'http:' && isLoopback(endpoint.hostname))) {
      throw configProblem(
        id,
        'endpoint',
        `must be an https:// URL (got ${endpoint.protocol}//…)`,
        'Plain http:// is accepted for a loopback address only.',
      );
    }
  }

  const caFile = text(config.ca_file) || undefined;
  return {
    id,
    keyId,
    region,
    credentials,
    endpoint,
    caFile,
    caCertificates: caFile === undefined ? undefined : readCaBundle(id, caFile),
    retry: readRetrySettings(id, config, RETRY_DEFAULTS, logger, RENAMED),
  };
}
