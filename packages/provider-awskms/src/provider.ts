// The `awskms` provider: data keys wrapped by KMS Encrypt/Decrypt under one configured key, the
// caller's context bound as the KMS encryption context. The AWS SDK is imported on first use only.
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { EncryptionContext, KeyProvider, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import { AtrestError, PROVIDER_API_VERSION, defineProvider } from '@atrest/core';
import { kmsError } from './kms-errors.js';
import type { AwsKmsConfig, AwsKmsSettings } from './settings.js';
import { awsKmsConfigSchema, parseAwsKmsSettings } from './settings.js';

/**
 * The KMS calls the provider makes, typed structurally: the SDK's `KMS` class fits, and so does
 * any object a test or an embedding application passes in.
 */
export type KmsClientLike = {
  encrypt(input: {
    KeyId: string;
    Plaintext: Uint8Array;
    EncryptionContext?: Record<string, string>;
  }): Promise<{ CiphertextBlob?: Uint8Array | undefined; KeyId?: string | undefined }>;
  decrypt(input: {
    CiphertextBlob: Uint8Array;
    KeyId: string;
    EncryptionContext?: Record<string, string>;
  }): Promise<{ Plaintext?: Uint8Array | undefined; KeyId?: string | undefined }>;
  describeKey(input: { KeyId: string }): Promise<{
    KeyMetadata?:
      | {
          Arn?: string | undefined;
          Enabled?: boolean | undefined;
          KeyState?: string | undefined;
          KeyUsage?: string | undefined;
          KeySpec?: string | undefined;
        }
      | undefined;
  }>;
};

/** What `createAwsKmsProvider` may be given besides the section. */
export type AwsKmsProviderDeps = {
  /** Use this client instead of building one from the section; the provider never closes it. */
  readonly client?: KmsClientLike;
};

const DATA_KEY_BYTES = 32;

/** A client built from the section, with what error messages and `close()` need. */
type OwnedClient = {
  readonly client: KmsClientLike;
  readonly region: string;
  /** The access key id in use, resolved from the chain if needed; undefined when unknown. */
  accessKeyId(): Promise<string | undefined>;
  close(): void;
};

async function buildSdkClient(settings: AwsKmsSettings): Promise<OwnedClient> {
  let sdk: typeof import('@aws-sdk/client-kms');
  let http: typeof import('@smithy/node-http-handler');
  try {
    [sdk, http] = await Promise.all([import('@aws-sdk/client-kms'), import('@smithy/node-http-handler')]);
  } catch (err) {
    throw new AtrestError(
      'ATREST_PROVIDER_NOT_INSTALLED',
      `AWS KMS provider ${settings.id}: the AWS SDK could not be loaded (${(err as Error).message}). Reinstall the provider: pnpm add @atrest/provider-awskms`,
      { cause: err, details: { provider: settings.id, package: '@aws-sdk/client-kms' } },
    );
  }
  // Our own agent, so ca_file widens trust for this provider only; host names are still verified.
  const agent = new Agent({
    keepAlive: true,
    ...(settings.caPem === undefined ? {} : { ca: [...rootCertificates, settings.caPem] }),
  });
  const kms = new sdk.KMS({
    ...(settings.region === undefined ? {} : { region: settings.region }),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint.href.replace(/\/$/, '') }),
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    maxAttempts: settings.maxAttempts,
    retryMode: 'standard',
    requestHandler: new http.NodeHttpHandler({
      httpsAgent: agent,
      connectionTimeout: settings.timeoutMs,
      requestTimeout: settings.timeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
  const close = (): void => {
    kms.destroy();
    agent.destroy();
  };
  let region: string;
  try {
    region = await kms.config.region();
  } catch (err) {
    close();
    throw new AtrestError(
      'ATREST_CONFIG_INVALID',
      `[security.encryption.${settings.id}] region: no AWS region (${(err as Error).message}). Set region, use a key ARN as key_id, or set AWS_REGION.`,
      { cause: err, details: { provider: settings.id, key: 'region' } },
    );
  }
  const client: KmsClientLike = kms;
  return {
    client,
    region,
    async accessKeyId() {
      if (settings.credentials) return settings.credentials.accessKeyId;
      try {
        return (await kms.config.credentials()).accessKeyId;
      } catch {
        return undefined;
      }
    },
    close,
  };
}

/** Build an `awskms` provider; `deps.client` replaces the SDK client (the SDK is then never loaded). */
export async function createAwsKmsProvider(
  options: ProviderCreateOptions<AwsKmsConfig>,
  deps: AwsKmsProviderDeps = {},
): Promise<KeyProvider> {
  const settings = parseAwsKmsSettings(options.id, options.config);
  let client: KmsClientLike;
  let owned: OwnedClient | undefined;
  if (deps.client !== undefined) {
    client = deps.client;
  } else {
    owned = await buildSdkClient(settings);
    client = owned.client;
  }
  const region = owned?.region ?? settings.region;
  const host =
    settings.endpoint?.host ?? (region === undefined ? 'the regional AWS KMS endpoint' : `kms.${region}.amazonaws.com`);
  let keyArn: string | undefined;
  let closed = false;

  const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    if (closed) {
      throw new AtrestError('ATREST_CLOSED', `AWS KMS provider ${settings.id} is closed: create a new one`, {
        details: { provider: settings.id },
      });
    }
    try {
      return await run();
    } catch (err) {
      const accessKeyId = owned ? await owned.accessKeyId() : settings.credentials?.accessKeyId;
      throw kmsError(err, { settings, operation, host, accessKeyId });
    }
  };
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
      if (!(dataKey instanceof Uint8Array) || dataKey.length !== DATA_KEY_BYTES) {
        throw new AtrestError(
          'ATREST_PROVIDER_CONTRACT',
          `AWS KMS provider ${settings.id}: wrapKey takes a ${DATA_KEY_BYTES}-byte data key`,
          {
            details: { provider: settings.id },
          },
        );
      }
      const plaintext = new Uint8Array(dataKey);
      try {
        const out = await call('Encrypt', () =>
          client.encrypt({ KeyId: settings.keyId, Plaintext: plaintext, ...kmsContext(context) }),
        );
        if (
          !(out.CiphertextBlob instanceof Uint8Array) ||
          out.CiphertextBlob.length === 0 ||
          typeof out.KeyId !== 'string' ||
          out.KeyId === ''
        ) {
          throw new AtrestError(
            'ATREST_PROVIDER_FAILED',
            `AWS KMS provider ${settings.id}: Encrypt on ${host} returned no ciphertext or key ARN`,
            {
              details: { provider: settings.id, host },
            },
          );
        }
        keyArn = out.KeyId;
        return { ciphertext: new Uint8Array(out.CiphertextBlob), keyRef: out.KeyId };
      } finally {
        plaintext.fill(0);
      }
    },

    async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
      if (!(wrapped.ciphertext instanceof Uint8Array) || wrapped.ciphertext.length === 0) {
        throw new AtrestError(
          'ATREST_DECRYPT_FAILED',
          `AWS KMS provider ${settings.id}: the wrapped data key is empty`,
          { details: { provider: settings.id } },
        );
      }
      // KeyId pins the key: a blob from any other KMS key is refused by KMS (IncorrectKeyException).
      const out = await call('Decrypt', () =>
        client.decrypt({ CiphertextBlob: wrapped.ciphertext, KeyId: settings.keyId, ...kmsContext(context) }),
      );
      const plaintext = out.Plaintext;
      if (!(plaintext instanceof Uint8Array) || plaintext.length !== DATA_KEY_BYTES) {
        const length = plaintext instanceof Uint8Array ? plaintext.length : 0;
        if (plaintext instanceof Uint8Array) plaintext.fill(0);
        throw new AtrestError(
          'ATREST_DECRYPT_FAILED',
          `AWS KMS provider ${settings.id}: KMS decrypted ${length} bytes, not a ${DATA_KEY_BYTES}-byte data key: this ciphertext is not a data key wrapped by atrest`,
          { details: { provider: settings.id, length } },
        );
      }
      return plaintext;
    },

    async health(): Promise<void> {
      const out = await call('DescribeKey', () => client.describeKey({ KeyId: settings.keyId }));
      const meta = out.KeyMetadata;
      if (meta?.Arn !== undefined) keyArn = meta.Arn;
      const state = meta?.KeyState ?? (meta?.Enabled === true ? 'Enabled' : 'Disabled');
      if (meta?.Enabled !== true || state !== 'Enabled') {
        throw new AtrestError(
          'ATREST_PROVIDER_FAILED',
          `AWS KMS provider ${settings.id}: KMS key ${settings.keyId} is ${state}, not Enabled: enable it (aws kms enable-key) or configure another key_id`,
          { details: { provider: settings.id, keyId: settings.keyId, keyState: state } },
        );
      }
      if (
        (meta.KeyUsage !== undefined && meta.KeyUsage !== 'ENCRYPT_DECRYPT') ||
        (meta.KeySpec !== undefined && meta.KeySpec !== 'SYMMETRIC_DEFAULT')
      ) {
        throw new AtrestError(
          'ATREST_CONFIG_INVALID',
          `[security.encryption.${settings.id}] key_id: ${settings.keyId} is a ${meta.KeySpec ?? '?'} ${meta.KeyUsage ?? '?'} key; a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key is needed`,
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
        max_attempts: settings.maxAttempts,
        timeout_ms: settings.timeoutMs,
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      owned?.close();
    },
  };
}

/** The `awskms` provider definition. */
export const awsKmsProvider = defineProvider<AwsKmsConfig>({
  apiVersion: PROVIDER_API_VERSION,
  type: 'awskms',
  description: 'AWS KMS: data keys wrapped by a KMS key (Encrypt/Decrypt with encryption context)',
  configSchema: awsKmsConfigSchema,
  create: (options) => createAwsKmsProvider(options),
});
