// What a failed KMS call means: atrest's typed error, or a transient failure for the provider
// kit's retry loop (throttling, 5xx, timeouts, dropped connections). Refused certificates and
// network failures are classified by the kit, so they read the same for every provider.
import { AttemptTimeout, errors, isAtrestError, tlsRefused, transportFailure } from '@atrest/core';
import type { AtrestError, AttemptVerdict, ErrorExtra } from '@atrest/core';
import type { AwsKmsSettings } from './config.js';

/** Facts an error message may name; never secrets. */
export type KmsCallFacts = {
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
  readonly $metadata?: { readonly httpStatusCode?: unknown };
};

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

/** What a failed attempt of a KMS call means. */
export function classifyKmsFailure(err: unknown, facts: KmsCallFacts): AttemptVerdict {
  if (isAtrestError(err)) return { retry: false, error: err };
  const { settings, operation, host } = facts;
  const id = settings.id;
  const top = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
  const name = str(top.name);
  const status = typeof top.$metadata?.httpStatusCode === 'number' ? top.$metadata.httpStatusCode : undefined;
  const cause = describeCause(top);
  const extra: ErrorExtra = {
    cause: err,
    details: {
      provider: id,
      operation,
      host,
      keyId: settings.keyId,
      ...(status === undefined ? {} : { httpStatus: status }),
      ...(name === '' ? {} : { awsError: name }),
    },
  };
  const final = (error: AtrestError): AttemptVerdict => ({ retry: false, error });
  const who =
    facts.accessKeyId === undefined
      ? 'the credentials from the AWS default chain'
      : `access key id ${facts.accessKeyId}`;
  const withKeyId: ErrorExtra = {
    ...extra,
    details: { ...extra.details, ...(facts.accessKeyId === undefined ? {} : { accessKeyId: facts.accessKeyId }) },
  };

  const transport = transportFailure(err);
  if (transport?.kind === 'tls') {
    return final(tlsRefused({ providerId: id, host, failure: transport, caFile: settings.caFile, cause: err }));
  }
  if (AUTH_ERRORS.has(name)) {
    return final(
      errors.providerAuth(
        `AWS KMS provider ${id}: ${host} refused ${who} (${name}).`,
        'Check access_key_id, secret_access_key and session_token (or the default credential chain), and that ' +
          `the request is signed for region ${settings.region ?? '(default)'}.`,
        withKeyId,
      ),
    );
  }
  if (name === 'AccessDeniedException') {
    return final(
      errors.providerAuth(
        `AWS KMS provider ${id}: ${who} may not call kms:${operation} on ${settings.keyId}.`,
        'Allow it in the key policy or an IAM policy.',
        withKeyId,
      ),
    );
  }
  if (name === 'CredentialsProviderError') {
    return final(
      errors.providerAuth(
        `AWS KMS provider ${id}: no AWS credentials found (${cause}).`,
        `Set access_key_id and secret_access_key in [security.encryption.${id}], or configure the default chain ` +
          '(AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, instance role).',
        extra,
      ),
    );
  }
  if (name === 'IncorrectKeyException') {
    return final(
      errors.wrongKey(
        `AWS KMS provider ${id}: the data key was wrapped by another KMS key than ${settings.keyId}.`,
        "Decrypt it with the provider whose key wrapped it (see the data key's key reference).",
        extra,
      ),
    );
  }
  if (name === 'InvalidCiphertextException') {
    return final(
      errors.decryptFailed(
        `AWS KMS provider ${id}: KMS refused the wrapped data key (InvalidCiphertextException): it was altered, ` +
          'or its encryption context differs from the one it was wrapped with.',
        'Restore the data key row from your backup.',
        extra,
      ),
    );
  }
  if (name === 'NotFoundException') {
    return final(
      errors.keyMissing(
        `AWS KMS provider ${id}: KMS key ${settings.keyId} was not found in region ` +
          `${settings.region ?? '(default)'} (${cause}).`,
        'Check key_id and region.',
        extra,
      ),
    );
  }
  if (name === 'InvalidKeyUsageException' || name === 'UnsupportedOperationException') {
    return final(
      errors.configInvalid(
        `AWS KMS provider ${id}: KMS key ${settings.keyId} cannot ${operation} (${cause}).`,
        'key_id must be a symmetric ENCRYPT_DECRYPT key.',
        extra,
      ),
    );
  }
  if (name === 'DisabledException' || name === 'KMSInvalidStateException') {
    return final(
      errors.providerFailed(
        `AWS KMS provider ${id}: KMS key ${settings.keyId} is not usable (${cause}).`,
        'Enable it (aws kms enable-key) or cancel its deletion.',
        extra,
      ),
    );
  }
  if (/region is missing/i.test(str(top.message))) {
    return final(
      errors.configInvalid(
        `[security.encryption.${id}] region: no AWS region.`,
        'Set region, or AWS_REGION for the default chain.',
        extra,
      ),
    );
  }
  if (
    THROTTLING_ERRORS.has(name) ||
    (status !== undefined && status >= 500) ||
    err instanceof AttemptTimeout ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    transport?.kind === 'network'
  ) {
    return { retry: true, cause, error: err };
  }
  return final(
    errors.providerFailed(
      `AWS KMS provider ${id}: ${operation} on ${host} failed (${cause}).`,
      'Read the cause; if it persists, check the key and its policy in KMS.',
      extra,
    ),
  );
}
