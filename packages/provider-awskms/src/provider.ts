// The `awskms` provider: data keys wrapped by KMS Encrypt/Decrypt under one configured key, the
// caller's context bound as the KMS encryption context. Every call runs under the provider kit's
// bounded retries; the AWS SDK is imported on first use only (client.ts).
import { errors, isAtrestError, withRetries } from '@atrest/core';
import type { EncryptionContext, KeyProvider, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import type { KmsCallOptions, KmsClientLike, OwnedKmsClient } from './client.js';
import { createKmsClient } from './client.js';
import type { AwsKmsConfig } from './config.js';
import { parseAwsKmsSettings } from './config.js';
import { classifyKmsFailure } from './errors.js';

/** What `createAwsKmsProvider` may be given besides its create options. */
export type AwsKmsProviderDeps = {
  /** Use this client instead of building one from the section; the provider never closes it. */
  readonly client?: KmsClientLike;
};

/** Build an `awskms` provider; `deps.client` replaces the SDK client (the SDK is then never loaded). */
export async function createAwsKmsProvider(
  options: ProviderCreateOptions<AwsKmsConfig>,
  deps: AwsKmsProviderDeps = {},
): Promise<KeyProvider> {
  const settings = parseAwsKmsSettings(options.id, options.config, options.logger);
  let owned: OwnedKmsClient | undefined;
  if (deps.client === undefined) owned = await createKmsClient(settings);
  const client = deps.client ?? owned?.client;
  if (client === undefined) throw errors.internal('awskms: no KMS client');
  const region = owned?.region ?? settings.region;
  const host =
    settings.endpoint?.host ?? (region === undefined ? 'the regional AWS KMS endpoint' : `kms.${region}.amazonaws.com`);
  const closing = new AbortController();
  let keyArn: string | undefined;

  const checkOpen = (): void => {
    if (closing.signal.aborted) throw errors.closed(`AWS KMS provider ${settings.id}`);
  };
  const call = <T>(operation: string, run: (options: KmsCallOptions) => Promise<T>): Promise<T> =>
    withRetries({
      providerId: settings.id,
      operation,
      target: host,
      settings: settings.retry,
      logger: options.logger,
      signal: closing.signal,
      checkOpen,
      attempt: (abortSignal) => run({ abortSignal }),
      classify: (err) =>
        classifyKmsFailure(err, { settings, operation, host, accessKeyId: settings.credentials?.accessKeyId }),
    }).catch(async (err: unknown) => {
      // An auth error names the access key id: from the default chain, it is resolved only then.
      if (owned === undefined || settings.credentials !== undefined || !isAtrestError(err, 'ATREST_PROVIDER_AUTH'))
        throw err;
      const accessKeyId = await owned.accessKeyId();
      const named = classifyKmsFailure(err.cause, { settings, operation, host, accessKeyId });
      throw named.retry ? err : named.error;
    });
  const kmsContext = (context: EncryptionContext): { EncryptionContext?: Record<string, string> } =>
    Object.keys(context).length === 0 ? {} : { EncryptionContext: { ...context } };

  if (settings.endpoint?.protocol === 'http:') {
    options.logger.warn(
      'awskms: plain http:// endpoint on loopback (a local KMS implementation); use https:// for anything else',
      { provider: settings.id, endpoint: settings.endpoint.origin },
    );
  }
  options.logger.debug('awskms provider ready', { provider: settings.id, keyId: settings.keyId, region, host });

  return {
    async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
      const out = await call('Encrypt', (o) =>
        client.encrypt({ KeyId: settings.keyId, Plaintext: dataKey, ...kmsContext(context) }, o),
      );
      if (!(out.CiphertextBlob instanceof Uint8Array) || typeof out.KeyId !== 'string' || out.KeyId === '') {
        throw errors.providerFailed(
          `AWS KMS provider ${settings.id}: Encrypt on ${host} returned no ciphertext or key ARN.`,
          'Check that endpoint is a KMS endpoint.',
          { details: { provider: settings.id, host } },
        );
      }
      keyArn = out.KeyId;
      return { ciphertext: new Uint8Array(out.CiphertextBlob), keyRef: out.KeyId };
    },

    async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
      // KeyId pins the key: a blob from any other KMS key is refused by KMS (IncorrectKeyException).
      const out = await call('Decrypt', (o) =>
        client.decrypt({ CiphertextBlob: wrapped.ciphertext, KeyId: settings.keyId, ...kmsContext(context) }, o),
      );
      if (!(out.Plaintext instanceof Uint8Array)) {
        throw errors.providerFailed(
          `AWS KMS provider ${settings.id}: Decrypt on ${host} returned no plaintext.`,
          'Check that endpoint is a KMS endpoint.',
          { details: { provider: settings.id, host } },
        );
      }
      return out.Plaintext;
    },

    async health(): Promise<void> {
      const out = await call('DescribeKey', (o) => client.describeKey({ KeyId: settings.keyId }, o));
      const meta = out.KeyMetadata;
      if (meta?.Arn !== undefined) keyArn = meta.Arn;
      const state = meta?.KeyState ?? (meta?.Enabled === true ? 'Enabled' : 'Disabled');
      if (meta?.Enabled !== true || state !== 'Enabled') {
        throw errors.providerFailed(
          `AWS KMS provider ${settings.id}: KMS key ${settings.keyId} is ${state}, not Enabled.`,
          'Enable it (aws kms enable-key) or configure another key_id.',
          { details: { provider: settings.id, keyId: settings.keyId, keyState: state } },
        );
      }
      if (
        (meta.KeyUsage !== undefined && meta.KeyUsage !== 'ENCRYPT_DECRYPT') ||
        (meta.KeySpec !== undefined && meta.KeySpec !== 'SYMMETRIC_DEFAULT')
      ) {
        throw errors.configInvalid(
          `[security.encryption.${settings.id}] key_id: ${settings.keyId} is a ${meta.KeySpec ?? '?'} ` +
            `${meta.KeyUsage ?? '?'} key.`,
          'A SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key is needed.',
          { details: { provider: settings.id, key: 'key_id' } },
        );
      }
    },

    describe() {
      return {
        key_id: settings.keyId,
        ...(keyArn === undefined ? {} : { key_arn: keyArn }),
        region: region ?? '(AWS default)',
        endpoint:
          settings.endpoint?.href.replace(/\/$/, '') ??
          (region === undefined ? '(AWS default)' : `https://kms.${region}.amazonaws.com`),
        credentials: settings.credentials === undefined ? 'AWS default credential chain' : 'static',
        ...(settings.credentials === undefined ? {} : { access_key_id: settings.credentials.accessKeyId }),
        ...(settings.caFile === undefined ? {} : { ca_file: settings.caFile }),
        max_attempts: settings.retry.maxAttempts,
        request_timeout_ms: settings.retry.requestTimeoutMs,
      };
    },

    async close(): Promise<void> {
      if (closing.signal.aborted) return;
      closing.abort();
      owned?.close();
    },
  };
}
