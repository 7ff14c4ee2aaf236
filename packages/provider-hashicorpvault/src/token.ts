// The token the provider sends: the configured one, or one from an AppRole login (made on first
// use, and again when Vault calls the last one invalid). Either is renewed with renew-self every
// `token_renewal_interval`, on a timer that never keeps the process alive; a renewal that fails is
// logged and tried again at the next tick (the operations themselves say when a token is refused).
import type { Logger } from '@atrest/core';
import type { VaultClient } from './client.js';
import { VaultHttpError } from './client.js';
import type { HashicorpVaultSettings } from './config.js';

export type VaultTokens = {
  /** The token to send; with AppRole, logs in first when there is none. */
  current(signal: AbortSignal): Promise<string>;
  /** Vault called `token` invalid: true when a new AppRole login may help (the next `current` makes it). */
  refused(token: string): boolean;
  /** Renew the token now (what the timer does); resolves when done, never rejects. */
  renew(): Promise<void>;
  close(): void;
};

export function createVaultTokens(settings: HashicorpVaultSettings, client: VaultClient, logger: Logger): VaultTokens {
  const { login } = settings;
  let token: string | undefined = login.kind === 'token' ? login.token : undefined;
  let pending: Promise<string> | undefined;
  const closing = new AbortController();

  async function appRoleLogin(signal: AbortSignal): Promise<string> {
    if (login.kind !== 'approle') throw new Error('no AppRole login configured');
    const answer = await client.call({
      method: 'POST',
      path: 'auth/approle/login',
      body: { role_id: login.roleId, secret_id: login.secretId },
      signal,
    });
    const issued = answer.auth?.['client_token'];
    if (typeof issued !== 'string' || issued === '') throw new Error('the AppRole login returned no client_token');
    logger.debug('hashicorpvault: logged in with AppRole', {
      provider: settings.id,
      leaseSeconds: Number(answer.auth?.['lease_duration'] ?? 0),
    });
    return issued;
  }

  let renewing: Promise<void> | undefined;
  /** One renewal at a time: a slow Vault does not get a pile of them. */
  function renew(): Promise<void> {
    renewing ??= renewOnce().finally(() => {
      renewing = undefined;
    });
    return renewing;
  }

  async function renewOnce(): Promise<void> {
    const sent = token;
    if (sent === undefined) return;
    try {
      const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(settings.retry.requestTimeoutMs)]);
      const answer = await client.call({
        method: 'POST',
        path: 'auth/token/renew-self',
        body: {},
        token: sent,
        signal,
      });
      logger.debug('hashicorpvault: token renewed', {
        provider: settings.id,
        leaseSeconds: Number(answer.auth?.['lease_duration'] ?? 0),
      });
    } catch (err) {
      if (closing.signal.aborted) return;
      if (err instanceof VaultHttpError && err.says('invalid token') && login.kind === 'approle' && token === sent) {
        token = undefined;
      }
      // A token that cannot be renewed (a root or non-renewable token) is said once, not every tick.
      if (err instanceof VaultHttpError && err.says('not renewable')) clearInterval(timer);
      logger.warn(`hashicorpvault: renewing the token failed: ${err instanceof Error ? err.message : String(err)}`, {
        provider: settings.id,
        url: settings.url.origin,
      });
    }
  }

  const timer =
    settings.renewalIntervalMs > 0 ? setInterval(() => void renew(), settings.renewalIntervalMs) : undefined;
  timer?.unref();

  return {
    async current(signal) {
      if (token !== undefined) return token;
      pending ??= appRoleLogin(signal).finally(() => {
        pending = undefined;
      });
      token = await pending;
      return token;
    },
    refused(refusedToken) {
      if (login.kind !== 'approle') return false;
      if (token === refusedToken) token = undefined;
      return true;
    },
    renew,
    close() {
      clearInterval(timer);
      closing.abort();
    },
  };
}
