// Turning what the Azure SDK, MSAL and the network throw into atrest's typed errors, and deciding
// what is worth a retry. The transport events recorded during the attempt come first: MSAL rewraps
// network failures into messages, the events keep the host, the code and the status.
import { AtrestError, isAtrestError } from '@atrest/core';
import type { ErrorCode } from '@atrest/core';
import type { TransportEvent } from './http-client.js';
import { isTlsErrorCode } from './http-client.js';

/** What the provider was doing. */
export type ProviderOperation = 'wrap' | 'unwrap' | 'health';

/** Non-secret facts that errors name. */
export type ProviderFacts = {
  readonly providerId: string;
  readonly vaultOrigin: string;
  readonly keyName: string;
  readonly tenantId: string | undefined;
  readonly clientId: string | undefined;
  readonly caFile: string | undefined;
  /** How the provider authenticates, for messages. */
  readonly usesClientSecret: boolean;
};

/** The outcome of a failed attempt. */
export type AttemptFailure =
  | {
      readonly retryable: true;
      readonly cause: string;
      readonly retryAfterMs?: number;
      /** The token endpoint failed: renew the credential, whose MSAL cache would replay the failure for a minute. */
      readonly renewCredential?: boolean;
      readonly error: unknown;
    }
  | { readonly retryable: false; readonly error: AtrestError };

/** Thrown when one attempt runs past `request_timeout`. */
export class AttemptTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

const retryableCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

function field(err: unknown, name: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[name] : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

function describeEvent(event: TransportEvent): string {
  if (event.kind === 'response') return `HTTP ${event.status} from ${event.host}`;
  if (event.kind === 'timeout') return `no answer from ${event.host} within ${event.ms} ms`;
  return `${event.code} from ${event.host}: ${event.message}`;
}

function isRetryableEvent(event: TransportEvent): boolean {
  if (event.kind === 'response') return retryableStatus(event.status);
  if (event.kind === 'timeout') return true;
  return !event.tls;
}

/** The first sentence of an Entra ID error (`AADSTS…: …`), or the error's name: never a secret. */
function identityReason(err: unknown): string {
  const text = `${str(field(err, 'message')) ?? ''}`;
  const aadsts = /AADSTS\d+:[^.]*\./.exec(text)?.[0];
  const code = str(field(field(err, 'errorResponse'), 'error'));
  if (aadsts) return aadsts;
  if (code) return code;
  const firstLine = text.split('\n')[0]?.slice(0, 300);
  return firstLine || (err instanceof Error ? err.name : String(err));
}

const identityErrorNames = new Set([
  'AuthenticationError',
  'AuthenticationRequiredError',
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
]);

/** True for an error @azure/identity throws (token acquisition failed). */
export function isIdentityError(err: unknown): boolean {
  const name = field(err, 'name');
  return typeof name === 'string' && identityErrorNames.has(name);
}

function make(
  code: ErrorCode,
  message: string,
  facts: ProviderFacts,
  cause: unknown,
  extra: Record<string, string | number> = {},
): AtrestError {
  return new AtrestError(code, message, {
    cause,
    details: { provider: facts.providerId, vault: facts.vaultOrigin, key: facts.keyName, ...extra },
  });
}

/** The TLS failure message: which host, and what to do about the CA. */
export function tlsError(
  facts: ProviderFacts,
  host: string,
  code: string,
  detail: string,
  cause: unknown,
): AtrestError {
  const advice = facts.caFile
    ? `The CA file ${facts.caFile} (added to Node's trusted roots) does not verify ${host}'s certificate: check that it holds the CA that signed it and that the certificate names ${host.replace(/:\d+$/, '')}.`
    : `No ca_file is set: if ${host} uses a private CA or a TLS-inspecting proxy, set ca_file to that CA's PEM file; otherwise check that ${host} is the right host.`;
  return make(
    'ATREST_TLS',
    `Provider ${facts.providerId}: TLS verification of ${host} failed (${code}: ${detail}). ${advice}`,
    facts,
    cause,
    {
      host,
      ...(facts.caFile ? { caFile: facts.caFile } : {}),
    },
  );
}

function authError(facts: ProviderFacts, err: unknown): AtrestError {
  const reason = identityReason(err);
  const unavailable =
    field(err, 'name') === 'CredentialUnavailableError' || field(err, 'name') === 'AggregateAuthenticationError';
  const message = facts.usesClientSecret
    ? `Provider ${facts.providerId} could not authenticate to Microsoft Entra ID as client ${facts.clientId ?? '?'} in tenant ${facts.tenantId ?? '?'} (${reason}). Check tenant_id, client_id and client_secret (the secret's value, not its ID) and that the secret has not expired.`
    : `Provider ${facts.providerId} got no token from the Azure default credential chain (no client_secret set${facts.tenantId ? `, tenant ${facts.tenantId}` : ''}${facts.clientId ? `, client ${facts.clientId}` : ''}): ${reason}. ${
        unavailable
          ? 'Set client_secret, or provide AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, a workload identity or a managed identity.'
          : 'Check the identity configured in the environment (AZURE_* variables, workload or managed identity).'
      }`;
  return make('ATREST_PROVIDER_AUTH', message, facts, err, {
    ...(facts.tenantId ? { tenant: facts.tenantId } : {}),
    ...(facts.clientId ? { client: facts.clientId } : {}),
  });
}

/** Classify a failed attempt of `operation`, given the transport events recorded during it. */
export function classifyFailure(
  err: unknown,
  events: readonly TransportEvent[],
  facts: ProviderFacts,
  operation: ProviderOperation,
): AttemptFailure {
  if (isAtrestError(err)) return { retryable: false, error: err as AtrestError };

  // A refused certificate decides everything: retrying or blaming auth would hide it.
  const tlsEvent = events.find((e): e is Extract<TransportEvent, { kind: 'error' }> => e.kind === 'error' && e.tls);
  if (tlsEvent)
    return { retryable: false, error: tlsError(facts, tlsEvent.host, tlsEvent.code, tlsEvent.message, err) };
  const errCode = str(field(err, 'code'));
  if (errCode !== undefined && isTlsErrorCode(errCode)) {
    return {
      retryable: false,
      error: tlsError(facts, new URL(facts.vaultOrigin).host, errCode, str(field(err, 'message')) ?? '', err),
    };
  }

  const last = events.at(-1);
  const retryAfterMs = [...events].reverse().find((e) => e.kind === 'response' && e.retryAfterMs !== undefined);
  const retryAfter = retryAfterMs?.kind === 'response' ? retryAfterMs.retryAfterMs : undefined;
  const retryable = (cause: string): Extract<AttemptFailure, { retryable: true }> => ({
    retryable: true,
    cause,
    error: err,
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
  });

  if (err instanceof AttemptTimeoutError)
    return retryable(last && isRetryableEvent(last) ? describeEvent(last) : `${operation} got ${err.message}`);

  const name = str(field(err, 'name'));
  const status = field(err, 'statusCode');
  const vaultMessage = str(field(err, 'message')) ?? '';
  const vaultCode = errCode ?? '';
  if (name === 'RestError' && typeof status === 'number') {
    // An answer from the vault.
    if (retryableStatus(status))
      return retryable(`HTTP ${status}${vaultCode ? ` ${vaultCode}` : ''} from ${new URL(facts.vaultOrigin).host}`);
    const where = `key ${facts.keyName} in vault ${facts.vaultOrigin}`;
    if (status === 401) {
      return {
        retryable: false,
        error: make(
          'ATREST_PROVIDER_AUTH',
          `Provider ${facts.providerId}: the vault ${facts.vaultOrigin} refused the access token (${vaultMessage}). Check that the identity belongs to the vault's tenant${facts.tenantId ? ` (${facts.tenantId})` : ''}.`,
          facts,
          err,
        ),
      };
    }
    if (status === 403 && /disabled/i.test(vaultMessage)) {
      return {
        retryable: false,
        error: make(
          'ATREST_PROVIDER_FAILED',
          `Provider ${facts.providerId}: ${where} is disabled (${vaultMessage}). Enable the key version in the vault.`,
          facts,
          err,
        ),
      };
    }
    if (status === 403) {
      return {
        retryable: false,
        error: make(
          'ATREST_PROVIDER_AUTH',
          `Provider ${facts.providerId}: the vault ${facts.vaultOrigin} denied ${operation} on ${where} (${vaultMessage}). Grant the identity the keys get, wrapKey and unwrapKey permissions (RBAC role "Key Vault Crypto Service Encryption User", or an access policy).`,
          facts,
          err,
        ),
      };
    }
    if (status === 404) {
      return {
        retryable: false,
        error: make(
          'ATREST_KEY_MISSING',
          `Provider ${facts.providerId}: ${where} was not found (${vaultMessage}). Check key_id, key_version and vault_uri; a deleted key can be recovered while the vault keeps it.`,
          facts,
          err,
        ),
      };
    }
    if (status === 400 && operation === 'unwrap') {
      return {
        retryable: false,
        error: make(
          'ATREST_DECRYPT_FAILED',
          `Provider ${facts.providerId}: the vault could not unwrap the data key with ${where} (${vaultMessage}): the wrapped key is damaged or was not wrapped by this key version.`,
          facts,
          err,
        ),
      };
    }
    return {
      retryable: false,
      error: make(
        'ATREST_PROVIDER_FAILED',
        `Provider ${facts.providerId}: ${operation} on ${where} failed with HTTP ${status} ${vaultCode} (${vaultMessage}).`,
        facts,
        err,
      ),
    };
  }

  if (isIdentityError(err)) {
    // MSAL reports a token endpoint that is down the same way as a refused secret: the events tell.
    if (last && isRetryableEvent(last))
      return { ...retryable(`token endpoint: ${describeEvent(last)}`), renewCredential: true };
    return { retryable: false, error: authError(facts, err) };
  }

  if (errCode !== undefined && retryableCodes.has(errCode))
    return retryable(`${errCode}${vaultMessage ? ` (${vaultMessage})` : ''}`);
  if (last && isRetryableEvent(last)) return retryable(describeEvent(last));

  const message = err instanceof Error ? err.message : String(err);
  return {
    retryable: false,
    error: make(
      'ATREST_PROVIDER_FAILED',
      `Provider ${facts.providerId}: ${operation} on key ${facts.keyName} in vault ${facts.vaultOrigin} failed: ${message}`,
      facts,
      err,
    ),
  };
}
