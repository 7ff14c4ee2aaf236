// The `[security.encryption.awskms.<name>]` section: its schema (convict form) and the checks that
// turn the validated values into settings the provider can use.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { ProviderConfigSchema } from '@atrest/core';
import { AtrestError } from '@atrest/core';

/** The section's keys, as core's config layer passes them (`''` for unset). */
export type AwsKmsConfig = {
  readonly key_id: string;
  readonly region?: string;
  readonly access_key_id?: string;
  readonly secret_access_key?: string;
  readonly session_token?: string;
  readonly endpoint?: string;
  readonly ca_file?: string;
  /** A number, or its decimal text when a source does not coerce. */
  readonly max_attempts?: number | string;
  /** Milliseconds (core's config layer turns `10s` into 10000), or their decimal text. */
  readonly timeout?: number | string;
};

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_TIMEOUT_MS = 10_000;

export const awsKmsConfigSchema: ProviderConfigSchema = {
  key_id: {
    doc: 'The KMS key that wraps data keys: key id, key ARN, alias name (alias/…) or alias ARN',
    format: String,
    default: '',
  },
  region: {
    doc: "AWS region of the key, e.g. eu-north-1 (default: the key ARN's region, else the AWS default chain: AWS_REGION, profile)",
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
  max_attempts: {
    doc: 'Attempts per KMS call, first one included; throttling, 5xx, timeouts and dropped connections are retried with backoff',
    format: 'nat',
    default: DEFAULT_MAX_ATTEMPTS,
  },
  timeout: {
    doc: 'Time limit of one attempt (connection, request and response): a duration such as 10s or 500ms, or milliseconds',
    format: 'duration',
    default: DEFAULT_TIMEOUT_MS,
  },
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
  readonly caPem: string | undefined;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
};

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
const ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/;

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

function configError(id: string, key: string, message: string): AtrestError {
  return new AtrestError('ATREST_CONFIG_INVALID', `[security.encryption.${id}] ${key}: ${message}`, {
    details: { provider: id, key },
  });
}

function integer(id: string, key: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw configError(id, key, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}

function readCaFile(id: string, caFile: string): string {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new AtrestError(
      'ATREST_TLS',
      `[security.encryption.${id}] ca_file ${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): fix the path or its permissions`,
      {
        cause: err,
        details: { provider: id, caFile },
      },
    );
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no PEM certificate found');
    for (const block of blocks) new X509Certificate(block);
  } catch (err) {
    throw new AtrestError(
      'ATREST_TLS',
      `[security.encryption.${id}] ca_file ${caFile} does not hold valid PEM certificates (${(err as Error).message}): give the CA certificate that signed the KMS endpoint's certificate`,
      {
        cause: err,
        details: { provider: id, caFile },
      },
    );
  }
  return `${blocks.join('\n')}\n`;
}

/** Check the section of provider `id` and read its CA file. */
/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

export function parseAwsKmsSettings(id: string, config: AwsKmsConfig): AwsKmsSettings {
  const keyId = text(config.key_id);
  if (keyId === '') {
    throw configError(id, 'key_id', 'is required: the KMS key id, key ARN, alias name (alias/…) or alias ARN');
  }
  const arn = ARN.exec(keyId);
  if (!arn && !KEY_ID.test(keyId) && !ALIAS_NAME.test(keyId)) {
    throw configError(
      id,
      'key_id',
      `"${keyId}" is not a KMS key reference: use a key id (1234abcd-12ab-34cd-56ef-1234567890ab), a key ARN (arn:aws:kms:<region>:<account>:key/<id>), an alias name (alias/<name>) or an alias ARN (arn:aws:kms:<region>:<account>:alias/<name>)`,
    );
  }
  let region: string | undefined = text(config.region) || undefined;
  const arnRegion = arn?.[1];
  if (region !== undefined && arnRegion !== undefined && region !== arnRegion) {
    throw configError(
      id,
      'region',
      `is ${region} but key_id is an ARN in ${arnRegion}: set region = ${arnRegion} or leave it unset`,
    );
  }
  region ??= arnRegion;

  const accessKeyId = text(config.access_key_id);
  const secretAccessKey = text(config.secret_access_key);
  const sessionToken = text(config.session_token);
  if (accessKeyId !== '' && secretAccessKey === '')
    throw configError(id, 'secret_access_key', 'is required with access_key_id');
  if (accessKeyId === '' && secretAccessKey !== '')
    throw configError(id, 'access_key_id', 'is required with secret_access_key');
  if (sessionToken !== '' && accessKeyId === '') {
    throw configError(
      id,
      'session_token',
      'needs access_key_id and secret_access_key (the temporary credentials it belongs to)',
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
      throw configError(id, 'endpoint', `"${endpointText}" is not a URL: give https://host[:port]`);
    }
    if (endpoint.username !== '' || endpoint.password !== '') {
      throw configError(
        id,
        'endpoint',
        'must not carry credentials (user:password@); use access_key_id and secret_access_key',
      );
    }
    // Plain HTTP would send data keys unencrypted and skip server verification: refused, except to
    // this machine's loopback, where local KMS implementations (local-kms, moto) listen.
    if (endpoint.protocol !== 'https:' && !(endpoint.protocol === 'http:' && isLoopback(endpoint.hostname))) {
      throw configError(
        id,
        'endpoint',
        `must be an https:// URL (got ${endpoint.protocol}//…); plain http:// is accepted for a loopback address only`,
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
    caPem: caFile === undefined ? undefined : readCaFile(id, caFile),
    maxAttempts: integer(id, 'max_attempts', config.max_attempts, DEFAULT_MAX_ATTEMPTS, 1, 20),
    timeoutMs: integer(id, 'timeout', config.timeout, DEFAULT_TIMEOUT_MS, 1, 600_000),
  };
}
