// What a failed Vault call means: atrest's typed error, or a transient failure for the provider
// kit's retry loop (429, 5xx other than a sealed Vault, timeouts, dropped connections). A sealed
// Vault, a refused token, a denied path and a missing key are each an error of their own.
import { AttemptTimeout, errors, isAtrestError, tlsRefused, transportFailure } from '@atrest/core';
import type { AttemptVerdict, ErrorExtra } from '@atrest/core';
import { VaultHttpError } from './client.js';
import type { HashicorpVaultSettings } from './config.js';

/** What the failed call was. */
export type VaultCallFacts = {
  readonly settings: HashicorpVaultSettings;
  /** `encrypt`, `decrypt`, `rewrap`. */
  readonly operation: string;
  /** True when an AppRole login may replace a token Vault refused. */
  readonly loginAgain: boolean;
};

/** `transit/encrypt/atrest` in namespace `team-a`, for messages. */
function where(settings: HashicorpVaultSettings, path: string): string {
  const ns = settings.namespace === '' ? '' : ` in namespace ${settings.namespace}`;
  return `${path}${ns} on ${settings.url.origin}`;
}

export function classifyVaultFailure(err: unknown, facts: VaultCallFacts): AttemptVerdict {
  if (isAtrestError(err)) return { retry: false, error: err };
  const { settings, operation } = facts;
  const id = settings.id;
  const transport = transportFailure(err);
  if (transport?.kind === 'tls') {
    return {
      retry: false,
      error: tlsRefused({
        providerId: id,
        host: settings.url.host,
        failure: transport,
        caFile: settings.caFile,
        cause: err,
      }),
    };
  }
  if (transport?.kind === 'network' || err instanceof AttemptTimeout || (err as Error | null)?.name === 'AbortError') {
    return { retry: true, cause: transport ? `${transport.code}: ${transport.message}` : String(err), error: err };
  }
  if (!(err instanceof VaultHttpError)) {
    const error = errors.providerFailed(
      `HashiCorp Vault provider ${id}: ${operation} failed (${err instanceof Error ? err.message : String(err)}).`,
      'Read the cause; check that url is a Vault or OpenBao server.',
      { cause: err, details: { provider: id, operation } },
    );
    return { retry: false, error };
  }
  const at = where(settings, err.path);
  const extra: ErrorExtra = {
    cause: err,
    details: { provider: id, operation, path: err.path, httpStatus: err.status, url: settings.url.origin },
  };
  const final = (error: ReturnType<typeof errors.providerAuth>): AttemptVerdict => ({ retry: false, error });

  if (err.status === 503 && err.says('Vault is sealed')) {
    return final(
      errors.providerUnavailable(
        `HashiCorp Vault provider ${id}: Vault at ${settings.url.origin} is sealed.`,
        'Unseal it (vault operator unseal, or its auto-unseal); values whose data keys are cached keep working ' +
          'meanwhile.',
        { ...extra, details: { ...extra.details, reason: 'sealed' } },
      ),
    );
  }
  if (err.status === 403 && err.says('invalid token')) {
    if (facts.loginAgain) return { retry: true, cause: 'the token expired; logging in with AppRole again', error: err };
    return final(
      errors.providerAuth(
        `HashiCorp Vault provider ${id}: Vault refused the token for ${at}: it is expired, revoked or unknown.`,
        'Create a new periodic token and set token; keep token_renewal_interval shorter than its period.',
        { ...extra, details: { ...extra.details, reason: 'invalid token' } },
      ),
    );
  }
  if (err.status === 403) {
    return final(
      errors.providerAuth(
        `HashiCorp Vault provider ${id}: permission denied on ${at}.`,
        `Grant the token's policy "update" on ${settings.mount}/encrypt/${settings.keyName}, ` +
          `${settings.mount}/decrypt/${settings.keyName} and ${settings.mount}/rewrap/${settings.keyName}.`,
        { ...extra, details: { ...extra.details, reason: 'permission denied' } },
      ),
    );
  }
  if (err.status === 400 && err.path === 'auth/approle/login') {
    return final(
      errors.providerAuth(
        `HashiCorp Vault provider ${id}: the AppRole login on ${settings.url.origin} was refused ` +
          `(${err.errors.join('; ')}).`,
        'Check role_id and secret_id (a secret ID can expire or run out of uses), and namespace.',
        extra,
      ),
    );
  }
  if (err.says('encryption key not found') || (err.status === 404 && err.path.includes('/keys/'))) {
    return final(
      errors.keyMissing(
        `HashiCorp Vault provider ${id}: the transit key ${settings.keyName} does not exist (${at}).`,
        `Create it (vault write -f ${settings.mount}/keys/${settings.keyName}), or fix key_ring and namespace; ` +
          'data keys wrapped by a deleted key cannot be recovered.',
        extra,
      ),
    );
  }
  if (err.status === 404 && err.says('no handler for route')) {
    return final(
      errors.configInvalid(
        `[security.encryption.${id}] transit_engine_path: no transit engine is mounted at ${settings.mount} (${at}).`,
        'Give the mount path of the transit engine (vault secrets list), and namespace if it lives in one.',
        extra,
      ),
    );
  }
  if (err.says('disallowed by policy (too old)')) {
    return final(
      errors.keyMissing(
        `HashiCorp Vault provider ${id}: the data key was wrapped by a version of ${settings.keyName} below its ` +
          'min_decryption_version.',
        'Lower min_decryption_version until secrets-migration re-encrypt-data-keys has moved every data key.',
        extra,
      ),
    );
  }
  if (err.says('message authentication failed') || err.says('version is too new') || err.says('invalid ciphertext')) {
    return final(
      errors.wrongKey(
        `HashiCorp Vault provider ${id}: the wrapped data key does not decrypt with transit key ${settings.keyName} ` +
          `(${err.errors.join('; ')}): another key wrapped it, or it was altered.`,
        "Configure the key that wrapped it (see the data key's key reference), or restore the row from a backup.",
        extra,
      ),
    );
  }
  if (err.status === 429 || err.status >= 500) {
    const after = err.retryAfterMs;
    return { retry: true, cause: err.message, error: err, ...(after === undefined ? {} : { retryAfterMs: after }) };
  }
  return final(
    errors.providerFailed(
      `HashiCorp Vault provider ${id}: ${operation} on ${at} failed (${err.message}).`,
      'Read the cause; check the transit key and the token in Vault.',
      extra,
    ),
  );
}
