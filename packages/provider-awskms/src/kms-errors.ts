// Turns what the AWS SDK (or an injected KMS client) throws into atrest's typed errors. The SDK has
// already retried what is retryable; whatever reaches here is final.
import { AtrestError, isAtrestError } from '@atrest/core';
import type { AwsKmsSettings } from './settings.js';

/** Facts an error message may name; never secrets. */
export type KmsErrorContext = {
  readonly settings: AwsKmsSettings;
  /** `Encrypt`, `Decrypt`, `DescribeKey`. */
  readonly operation: string;
  /** The host the provider talks to. */
  readonly host: string;
  /** The access key id in use, when known (static keys, or resolved from the default chain). */
  readonly accessKeyId: string | undefined;
};

type ErrorLike = {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown; readonly attempts?: unknown };
};

/** Node's certificate verification failures (`err.code`). */
const TLS_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The server refused who we are. */
const AUTH_ERRORS = new Set([
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'UnrecognizedClientException',
  'MissingAuthenticationTokenException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'SignatureDoesNotMatch',
]);

const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && out.length < 10) {
    out.push(current as ErrorLike);
    current = (current as ErrorLike).cause;
  }
  return out;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `name: message`, cut short: SDK messages can be long and are only a hint. */
function describeCause(e: ErrorLike): string {
  // Node's network and TLS errors are all named `Error`: their code says more.
  const name = str(e.name) !== '' && str(e.name) !== 'Error' ? str(e.name) : str(e.code) || 'Error';
  const message = str(e.message).split('\n')[0] ?? '';
  const short = message.length > 200 ? `${message.slice(0, 200)}…` : message;
  return short === '' || short === name ? name : `${name}: ${short}`;
}

/** The typed error for a failed KMS call. */
export function kmsError(err: unknown, ctx: KmsErrorContext): AtrestError {
  if (isAtrestError(err)) return err;
  const { settings, operation, host } = ctx;
  const id = settings.id;
  const errors = chain(err);
  const top = errors[0] ?? {};
  const name = str(top.name);
  const status = typeof top.$metadata?.httpStatusCode === 'number' ? top.$metadata.httpStatusCode : undefined;
  const attempts = typeof top.$metadata?.attempts === 'number' ? top.$metadata.attempts : undefined;
  const cause = describeCause(top);
  const details = {
    provider: id,
    operation,
    host,
    keyId: settings.keyId,
    ...(status === undefined ? {} : { httpStatus: status }),
    ...(name === '' ? {} : { awsError: name }),
  };
  const who =
    ctx.accessKeyId === undefined ? 'the credentials from the AWS default chain' : `access key id ${ctx.accessKeyId}`;

  const tls = errors.find((e) => TLS_CODES.has(str(e.code)) || /^ERR_(TLS|SSL)_/.test(str(e.code)));
  if (tls) {
    const trust =
      settings.caFile === undefined
        ? "Node's default roots (no ca_file set)"
        : `Node's default roots + ca_file ${settings.caFile}`;
    return new AtrestError(
      'ATREST_TLS',
      `AWS KMS provider ${id}: the TLS certificate of ${host} was refused (${describeCause(tls)}); trusted: ${trust}. Set ca_file to the CA that signed ${host}'s certificate, and use a host name the certificate names.`,
      {
        cause: err,
        details: {
          ...details,
          tlsError: str(tls.code),
          ...(settings.caFile === undefined ? {} : { caFile: settings.caFile }),
        },
      },
    );
  }
  if (AUTH_ERRORS.has(name)) {
    return new AtrestError(
      'ATREST_PROVIDER_AUTH',
      `AWS KMS provider ${id}: ${host} refused ${who} (${name}). Check access_key_id, secret_access_key and session_token (or the default credential chain), and that the request is signed for region ${settings.region ?? '(default)'}.`,
      {
        cause: err,
        details: { ...details, ...(ctx.accessKeyId === undefined ? {} : { accessKeyId: ctx.accessKeyId }) },
      },
    );
  }
  if (name === 'AccessDeniedException') {
    return new AtrestError(
      'ATREST_PROVIDER_AUTH',
      `AWS KMS provider ${id}: ${who} may not call kms:${operation} on ${settings.keyId}. Allow it in the key policy or an IAM policy.`,
      {
        cause: err,
        details: { ...details, ...(ctx.accessKeyId === undefined ? {} : { accessKeyId: ctx.accessKeyId }) },
      },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new AtrestError(
      'ATREST_PROVIDER_AUTH',
      `AWS KMS provider ${id}: no AWS credentials found (${cause}). Set access_key_id and secret_access_key in [security.encryption.${id}], or configure the default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, instance role).`,
      { cause: err, details },
    );
  }
  if (name === 'IncorrectKeyException') {
    return new AtrestError(
      'ATREST_WRONG_KEY',
      `AWS KMS provider ${id}: the data key was wrapped by another KMS key than ${settings.keyId}. Decrypt it with the provider whose key wrapped it (see the data key's key reference).`,
      { cause: err, details },
    );
  }
  if (name === 'InvalidCiphertextException') {
    return new AtrestError(
      'ATREST_DECRYPT_FAILED',
      `AWS KMS provider ${id}: KMS refused the wrapped data key (InvalidCiphertextException): it was altered, or its encryption context differs from the one it was wrapped with.`,
      { cause: err, details },
    );
  }
  if (name === 'NotFoundException') {
    return new AtrestError(
      'ATREST_KEY_MISSING',
      `AWS KMS provider ${id}: KMS key ${settings.keyId} was not found in region ${settings.region ?? '(default)'} (${cause}). Check key_id and region.`,
      { cause: err, details },
    );
  }
  if (name === 'InvalidKeyUsageException' || name === 'UnsupportedOperationException') {
    return new AtrestError(
      'ATREST_CONFIG_INVALID',
      `AWS KMS provider ${id}: KMS key ${settings.keyId} cannot ${operation} (${cause}). key_id must be a symmetric ENCRYPT_DECRYPT key.`,
      { cause: err, details },
    );
  }
  if (name === 'DisabledException' || name === 'KMSInvalidStateException') {
    return new AtrestError(
      'ATREST_PROVIDER_FAILED',
      `AWS KMS provider ${id}: KMS key ${settings.keyId} is not usable (${cause}). Enable it (aws kms enable-key) or cancel its deletion.`,
      { cause: err, details },
    );
  }
  if (/region is missing/i.test(str(top.message))) {
    return new AtrestError(
      'ATREST_CONFIG_INVALID',
      `[security.encryption.${id}] region: no AWS region: set region, or AWS_REGION for the default chain.`,
      {
        cause: err,
        details,
      },
    );
  }
  const retryable =
    THROTTLING_ERRORS.has(name) ||
    (status !== undefined && status >= 500) ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    errors.some((e) => NETWORK_CODES.has(str(e.code)));
  if (retryable) {
    const tries = attempts === undefined ? '' : ` after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    return new AtrestError(
      'ATREST_PROVIDER_UNAVAILABLE',
      `AWS KMS provider ${id}: ${operation} on ${host} failed${tries} (${cause}). KMS is throttling, failing or unreachable; try again later, or raise max_attempts / timeout.`,
      { cause: err, details: { ...details, ...(attempts === undefined ? {} : { attempts }) } },
    );
  }
  return new AtrestError(
    'ATREST_PROVIDER_FAILED',
    `AWS KMS provider ${id}: ${operation} on ${host} failed (${cause}).`,
    { cause: err, details },
  );
}
