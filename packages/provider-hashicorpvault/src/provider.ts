// The `hashicorpvault` provider: data keys wrapped by a Transit key (encrypt/decrypt), moved to its
// latest version by Transit's rewrap without leaving Vault, the caller's context bound through a
// digest (wrapped-key.ts). Every call runs under the provider kit's bounded retries.
import { errors, withRetries } from '@atrest/core';
import type { EncryptionContext, KeyProvider, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import type { VaultAnswer } from './client.js';
import { createVaultClient } from './client.js';
import type { HashicorpVaultConfig } from './config.js';
import { parseHashicorpVaultSettings } from './config.js';
import { classifyVaultFailure } from './errors.js';
import { createVaultTokens } from './token.js';
import { dataKeyOf, decodeWrapped, encodeWrapped, transitPlaintext, versionOf } from './wrapped-key.js';

/** Build a `hashicorpvault` provider from its validated section. */
export async function createHashicorpVaultProvider(
  options: ProviderCreateOptions<HashicorpVaultConfig>,
): Promise<KeyProvider> {
  const settings = parseHashicorpVaultSettings(options.id, options.config, options.logger);
  const { id, mount, keyName } = settings;
  const client = createVaultClient(settings);
  const tokens = createVaultTokens(settings, client, options.logger);
  const closing = new AbortController();
  const nsPath = settings.namespace === '' ? '' : `${settings.namespace}/`;
  const keyUrl = `${settings.url.origin}/v1/${nsPath}${mount}/keys/${keyName}`;
  let lastVersion: number | undefined;

  const checkOpen = (): void => {
    if (closing.signal.aborted) throw errors.closed(`HashiCorp Vault provider ${id}`);
  };
  /** One transit call (`encrypt`, `decrypt`, `rewrap`) under the kit's retries; its `data`. */
  const transit = (operation: string, body: Record<string, unknown>): Promise<Readonly<Record<string, unknown>>> =>
    withRetries({
      providerId: id,
      operation,
      target: settings.url.host,
      settings: settings.retry,
      logger: options.logger,
      signal: closing.signal,
      checkOpen,
      async attempt(signal) {
        const token = await tokens.current(signal);
        let answer: VaultAnswer;
        try {
          answer = await client.call({ method: 'POST', path: `${mount}/${operation}/${keyName}`, body, token, signal });
        } catch (err) {
          (err as { token?: string }).token = token;
          throw err;
        }
        return answer.data ?? {};
      },
      classify(err) {
        const sent = (err as { token?: unknown }).token;
        const loginAgain = typeof sent === 'string' && tokens.refused(sent);
        return classifyVaultFailure(err, { settings, operation, loginAgain });
      },
    });
  const wrappedOf = (data: Readonly<Record<string, unknown>>, operation: string): WrappedKey => {
    const version = versionOf(data['ciphertext']);
    if (version === undefined) {
      throw errors.providerFailed(
        `HashiCorp Vault provider ${id}: ${operation} on ${settings.url.origin} returned no Transit ciphertext.`,
        'Check that url is a Vault or OpenBao server and transit_engine_path a transit mount.',
        { details: { provider: id, operation } },
      );
    }
    lastVersion = version;
    return { ciphertext: encodeWrapped(String(data['ciphertext'])), keyRef: `${keyUrl}:v${version}` };
  };
  const storedCiphertext = (wrapped: WrappedKey): string => {
    const decoded = decodeWrapped(wrapped.ciphertext);
    if (decoded === undefined) {
      throw errors.decryptFailed(
        `HashiCorp Vault provider ${id}: the wrapped data key is damaged (not a Transit ciphertext it stored).`,
        'Restore the data key row from a backup.',
        { details: { provider: id } },
      );
    }
    return decoded.ciphertext;
  };

  options.logger.debug('hashicorpvault provider ready', { provider: id, url: settings.url.origin, mount, keyName });
  return {
    async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
      return wrappedOf(await transit('encrypt', { plaintext: transitPlaintext(dataKey, context) }), 'encrypt');
    },

    async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
      const data = await transit('decrypt', { ciphertext: storedCiphertext(wrapped) });
      const dataKey = dataKeyOf(String(data['plaintext'] ?? ''), context);
      if (dataKey === undefined) {
        throw errors.decryptFailed(
          `HashiCorp Vault provider ${id}: the data key's context does not match the one bound when it was wrapped ` +
            '(a data key copied to another record, or a damaged record).',
          'Restore the data key row from a backup.',
          { details: { provider: id } },
        );
      }
      return dataKey;
    },

    async rewrapKey(wrapped: WrappedKey): Promise<WrappedKey> {
      // The plaintext (and its context digest) stays inside Vault: nothing to check here.
      return wrappedOf(await transit('rewrap', { ciphertext: storedCiphertext(wrapped) }), 'rewrap');
    },

    async health(): Promise<void> {
      // One encrypt: the token, its policy, the key and the seal all answer at once.
      await transit('encrypt', { plaintext: Buffer.alloc(16).toString('base64') });
    },

    describe() {
      return {
        url: settings.url.origin,
        ...(settings.namespace === '' ? {} : { namespace: settings.namespace }),
        transit_engine_path: mount,
        key_ring: keyName,
        ...(lastVersion === undefined ? {} : { key_version: lastVersion }),
        login: settings.login.kind,
        token_renewal_interval_ms: settings.renewalIntervalMs,
        ...(settings.caFile === undefined ? {} : { ca_file: settings.caFile }),
      };
    },

    async close(): Promise<void> {
      if (closing.signal.aborted) return;
      closing.abort();
      tokens.close();
      client.close();
    },
  };
}
