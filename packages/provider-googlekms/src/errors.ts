// What a failed Cloud KMS call means: atrest's typed error, or a transient failure for the provider
// kit's retry loop (RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE, timeouts, dropped connections, and
// checksums that do not match: data damaged on the way). gax reports gRPC codes; the token
// endpoint reports OAuth 2.0 errors through gaxios.
import { AttemptTimeout, errors, isAtrestError, tlsRefused, transportFailure } from '@atrest/core';
import type { AtrestError, AttemptVerdict, ErrorExtra } from '@atrest/core';
import type { GoogleKmsSettings } from './config.js';

/** A CRC32C that does not match: the request or the answer was damaged on the way. */
export class IntegrityError extends Error {
  constructor(what: string) {
    super(`${what}: the CRC32C checksum does not match`);
    this.name = 'IntegrityError';
  }
}

/** gRPC status codes gax reports. */
const Code = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const TRANSIENT: ReadonlySet<number> = new Set([
  Code.DEADLINE_EXCEEDED,
  Code.RESOURCE_EXHAUSTED,
  Code.ABORTED,
  Code.INTERNAL,
  Code.UNAVAILABLE,
]);

type ErrorLike = {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly config?: { readonly url?: unknown };
  readonly response?: { readonly status?: unknown; readonly data?: unknown };
};

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

/** The google.rpc.Status of a KMS error that reached us through gaxios (its body, as JSON or text). */
function rpcStatusOf(e: ErrorLike): { status?: unknown; message?: unknown } | undefined {
  for (const candidate of [e.response?.data, e.message]) {
    let body: unknown = candidate;
    if (typeof candidate === 'string' && candidate.startsWith('{')) {
      try {
        body = JSON.parse(candidate);
      } catch {
        body = undefined;
      }
    }
    const error = (body as { error?: unknown } | undefined)?.error;
    if (typeof error === 'object' && error !== null) return error as { status?: unknown; message?: unknown };
  }
  return undefined;
}

/** The host a gaxios request went to, when the error says. */
function hostOf(e: ErrorLike, fallback: string): string {
  try {
    return e.config?.url === undefined ? fallback : new URL(String(e.config.url)).host;
  } catch {
    return fallback;
  }
}

export function classifyKmsFailure(err: unknown, settings: GoogleKmsSettings, operation: string): AttemptVerdict {
  if (isAtrestError(err)) return { retry: false, error: err };
  const id = settings.id;
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
  const kmsHost = settings.endpoint?.host ?? 'cloudkms.googleapis.com';
  const host = hostOf(e, kmsHost);
  let message = str(e.message).split('\n')[0] ?? '';
  const extra: ErrorExtra = { cause: err, details: { provider: id, operation, host, keyName: settings.keyName } };
  const final = (error: AtrestError): AttemptVerdict => ({ retry: false, error });
  const who = settings.serviceAccount
    ? `service account ${settings.serviceAccount.clientEmail} (${settings.serviceAccount.path})`
    : 'the application default credentials';

  const transport = transportFailure(err);
  if (transport?.kind === 'tls') {
    return final(tlsRefused({ providerId: id, host, failure: transport, caFile: settings.caFile, cause: err }));
  }
  if (err instanceof IntegrityError || err instanceof AttemptTimeout || transport?.kind === 'network') {
    return { retry: true, cause: transport ? `${transport.code}: ${transport.message}` : message, error: err };
  }
  // The token endpoint: an OAuth 2.0 error body (`invalid_grant: Invalid JWT Signature.`).
  const oauth = e.response?.data as { error?: unknown } | undefined;
  const status = typeof e.response?.status === 'number' ? e.response.status : undefined;
  if (typeof oauth?.error === 'string') {
    if (status !== undefined && (status === 429 || status >= 500)) return { retry: true, cause: message, error: err };
    return final(
      errors.providerAuth(
        `Google Cloud KMS provider ${id}: the token endpoint ${host} refused ${who} (${message}).`,
        'Check that credentials_file holds a current key of the service account (keys can be deleted or disabled).',
        extra,
      ),
    );
  }
  // gax's GoogleError carries the gRPC code; a KMS error that came up through gaxios, its JSON body.
  const rpc = rpcStatusOf(e);
  const rpcStatus = typeof rpc?.status === 'string' && rpc.status in Code ? rpc.status : undefined;
  // An HTTP status (gaxios) is not a gRPC code (gax): the body's status name wins.
  const code = rpcStatus ? Code[rpcStatus as keyof typeof Code] : typeof e.code === 'number' ? e.code : undefined;
  if (typeof rpc?.message === 'string') message = rpc.message;
  if (code === Code.UNAUTHENTICATED) {
    return final(
      errors.providerAuth(
        `Google Cloud KMS provider ${id}: ${kmsHost} did not accept the credentials of ${who} (${message}).`,
        'Check credentials_file, or the application default credentials (GOOGLE_APPLICATION_CREDENTIALS).',
        extra,
      ),
    );
  }
  if (code === Code.PERMISSION_DENIED) {
    return final(
      errors.providerAuth(
        `Google Cloud KMS provider ${id}: ${who} may not ${operation} with ${settings.keyName} (${message}).`,
        'Grant it the Cloud KMS CryptoKey Encrypter/Decrypter role on the key (or check key_id).',
        extra,
      ),
    );
  }
  if (code === Code.NOT_FOUND) {
    return final(
      errors.keyMissing(
        `Google Cloud KMS provider ${id}: the crypto key ${settings.keyName} was not found (${message}).`,
        'Check key_id; data keys wrapped by a destroyed key cannot be recovered.',
        extra,
      ),
    );
  }
  if (code === Code.INVALID_ARGUMENT && /checksum/i.test(message)) {
    return { retry: true, cause: message, error: err };
  }
  if (code === Code.INVALID_ARGUMENT && /decryption failed/i.test(message)) {
    return final(
      errors.wrongKey(
        `Google Cloud KMS provider ${id}: the wrapped data key does not decrypt with ${settings.keyName}: another ` +
          'key wrapped it, its context differs from the one it was wrapped with, or it was altered.',
        "Configure the key that wrapped it (see the data key's key reference), or restore the row from a backup.",
        extra,
      ),
    );
  }
  if (code === Code.FAILED_PRECONDITION) {
    return final(
      errors.providerFailed(
        `Google Cloud KMS provider ${id}: a version of ${settings.keyName} is not usable (${message}).`,
        'Enable the key version (or restore it, if it is scheduled for destruction).',
        extra,
      ),
    );
  }
  if ((code !== undefined && TRANSIENT.has(code)) || str(e.name) === 'AbortError') {
    return { retry: true, cause: message, error: err };
  }
  return final(
    errors.providerFailed(
      `Google Cloud KMS provider ${id}: ${operation} on ${host} failed (${message || String(err)}).`,
      'Read the cause; check the key and its IAM policy in Cloud KMS.',
      extra,
    ),
  );
}
