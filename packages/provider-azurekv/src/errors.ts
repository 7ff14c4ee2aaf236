// Turning what the Azure SDK, MSAL and the network throw into atrest's typed errors, and deciding
// what is worth a retry. The transport events recorded during the attempt come first: MSAL rewraps
// network failures into messages, the events keep the host, the code and the status.
import { AttemptTimeout, errors, isAtrestError, isTlsErrorCode, tlsRefused, transportFailure } from '@atrest/core';
import type { AtrestError, AttemptVerdict } from '@atrest/core';
import type { TransportEvent } from './http-client.js';

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

/** A failed attempt: the kit's verdict, and whether the credential must be renewed. */
export type AttemptFailure = AttemptVerdict & {
  /** The token endpoint failed: renew the credential, whose MSAL cache would replay the failure for a minute. */
  readonly renewCredential?: boolean;
};

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

type AtrestFactory = (
  problem: string,
  fix: string,
  extra: { cause: unknown; details: Record<string, string> },
) => AtrestError;

/** An error of `factory` with the provider's facts in its details. */
function make(
  factory: AtrestFactory,
  problem: string,
  fix: string,
  facts: ProviderFacts,
  cause: unknown,
  extra: Record<string, string> = {},
): AtrestError {
  return factory(problem, fix, {
    cause,
    details: { provider: facts.providerId, vault: facts.vaultOrigin, key: facts.keyName, ...extra },
  });
}

function tlsError(facts: ProviderFacts, host: string, code: string, message: string, cause: unknown): AtrestError {
  return tlsRefused({ providerId: facts.providerId, host, failure: { code, message }, caFile: facts.caFile, cause });
}

function authError(facts: ProviderFacts, err: unknown): AtrestError {
  const reason = identityReason(err);
  const unavailable =
    field(err, 'name') === 'CredentialUnavailableError' || field(err, 'name') === 'AggregateAuthenticationError';
  const extra = {
    ...(facts.tenantId ? { tenant: facts.tenantId } : {}),
    ...(facts.clientId ? { client: facts.clientId } : {}),
  };
  if (facts.usesClientSecret) {
    return make(
      errors.providerAuth,
      `Provider ${facts.providerId} could not authenticate to Microsoft Entra ID as client ${facts.clientId ?? '?'} ` +
        `in tenant ${facts.tenantId ?? '?'} (${reason}).`,
      "Check tenant_id, client_id and client_secret (the secret's value, not its ID) and that the secret has not " +
        'expired.',
      facts,
      err,
      extra,
    );
  }
  const tenant = facts.tenantId ? `, tenant ${facts.tenantId}` : '';
  const client = facts.clientId ? `, client ${facts.clientId}` : '';
  return make(
    errors.providerAuth,
    `Provider ${facts.providerId} got no token from the Azure default credential chain (no client_secret set` +
      `${tenant}${client}): ${reason}.`,
    unavailable
      ? 'Set client_secret, or provide AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, a workload ' +
          'identity or a managed identity.'
      : 'Check the identity configured in the environment (AZURE_* variables, workload or managed identity).',
    facts,
    err,
    extra,
  );
}

/** What an answer of the vault with HTTP `status` means, when it is final. */
function vaultAnswer(
  status: number,
  vaultCode: string,
  vaultMessage: string,
  facts: ProviderFacts,
  operation: ProviderOperation,
  err: unknown,
): AtrestError {
  const where = `key ${facts.keyName} in vault ${facts.vaultOrigin}`;
  const id = facts.providerId;
  if (status === 401) {
    return make(
      errors.providerAuth,
      `Provider ${id}: the vault ${facts.vaultOrigin} refused the access token (${vaultMessage}).`,
      `Check that the identity belongs to the vault's tenant${facts.tenantId ? ` (${facts.tenantId})` : ''}.`,
      facts,
      err,
    );
  }
  if (status === 403 && /disabled/i.test(vaultMessage)) {
    return make(
      errors.providerFailed,
      `Provider ${id}: ${where} is disabled (${vaultMessage}).`,
      'Enable the key version in the vault.',
      facts,
      err,
    );
  }
  if (status === 403) {
    return make(
      errors.providerAuth,
      `Provider ${id}: the vault ${facts.vaultOrigin} denied ${operation} on ${where} (${vaultMessage}).`,
      'Grant the identity the keys get, wrapKey and unwrapKey permissions (RBAC role "Key Vault Crypto Service ' +
        'Encryption User", or an access policy).',
      facts,
      err,
    );
  }
  if (status === 404) {
    return make(
      errors.keyMissing,
      `Provider ${id}: ${where} was not found (${vaultMessage}).`,
      'Check key_id, key_version and vault_uri; a deleted key can be recovered while the vault keeps it.',
      facts,
      err,
    );
  }
  if (status === 400 && operation === 'unwrap') {
    return make(
      errors.decryptFailed,
      `Provider ${id}: the vault could not unwrap the data key with ${where} (${vaultMessage}): the wrapped key ` +
        'is damaged or was not wrapped by this key version.',
      'Restore the data key row from your backup.',
      facts,
      err,
    );
  }
  return make(
    errors.providerFailed,
    `Provider ${id}: ${operation} on ${where} failed with HTTP ${status} ${vaultCode} (${vaultMessage}).`,
    'Read the cause; check the key and the identity in the vault.',
    facts,
    err,
  );
}

/** Classify a failed attempt of `operation`, given the transport events recorded during it. */
export function classifyFailure(
  err: unknown,
  events: readonly TransportEvent[],
  facts: ProviderFacts,
  operation: ProviderOperation,
): AttemptFailure {
  if (isAtrestError(err)) return { retry: false, error: err };

  // A refused certificate decides everything: retrying or blaming auth would hide it.
  const tlsEvent = events.find((e): e is Extract<TransportEvent, { kind: 'error' }> => e.kind === 'error' && e.tls);
  if (tlsEvent) return { retry: false, error: tlsError(facts, tlsEvent.host, tlsEvent.code, tlsEvent.message, err) };
  const errCode = str(field(err, 'code'));
  if (errCode !== undefined && isTlsErrorCode(errCode)) {
    const host = new URL(facts.vaultOrigin).host;
    return { retry: false, error: tlsError(facts, host, errCode, str(field(err, 'message')) ?? '', err) };
  }

  const last = events.at(-1);
  const retryAfterMs = [...events].reverse().find((e) => e.kind === 'response' && e.retryAfterMs !== undefined);
  const retryAfter = retryAfterMs?.kind === 'response' ? retryAfterMs.retryAfterMs : undefined;
  const retryable = (cause: string): AttemptFailure => ({
    retry: true,
    cause,
    error: err,
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
  });

  if (err instanceof AttemptTimeout)
    return retryable(last && isRetryableEvent(last) ? describeEvent(last) : `${operation} got ${err.message}`);

  const name = str(field(err, 'name'));
  const status = field(err, 'statusCode');
  const vaultMessage = str(field(err, 'message')) ?? '';
  if (name === 'RestError' && typeof status === 'number') {
    // An answer from the vault.
    if (retryableStatus(status))
      return retryable(`HTTP ${status}${errCode ? ` ${errCode}` : ''} from ${new URL(facts.vaultOrigin).host}`);
    return { retry: false, error: vaultAnswer(status, errCode ?? '', vaultMessage, facts, operation, err) };
  }

  if (isIdentityError(err)) {
    // MSAL reports a token endpoint that is down the same way as a refused secret: the events tell.
    if (last && isRetryableEvent(last))
      return { ...retryable(`token endpoint: ${describeEvent(last)}`), renewCredential: true };
    return { retry: false, error: authError(facts, err) };
  }

  const network = transportFailure(err);
  if (network?.kind === 'network') return retryable(`${network.code}${vaultMessage ? ` (${vaultMessage})` : ''}`);
  if (last && isRetryableEvent(last)) return retryable(describeEvent(last));

  const message = err instanceof Error ? err.message : String(err);
  return {
    retry: false,
    error: make(
      errors.providerFailed,
      `Provider ${facts.providerId}: ${operation} on key ${facts.keyName} in vault ${facts.vaultOrigin} failed: ` +
        message,
      'Read the cause; if it persists, report it.',
      facts,
      err,
    ),
  };
}
