// The KMS client: typed structurally (only the calls the provider makes), so the SDK's `KMS` class
// fits and so does any object a test or an embedding application passes in. The SDK is imported
// here, on first use only; its own retries are off, the provider kit's loop retries.
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { configProblem, errors } from '@atrest/core';
import type { AwsKmsSettings } from './config.js';

/** What a call takes besides its input: the attempt's abort signal. */
export type KmsCallOptions = { readonly abortSignal?: AbortSignal };

/** The KMS calls the provider makes. */
export type KmsClientLike = {
  encrypt(
    input: { KeyId: string; Plaintext: Uint8Array; EncryptionContext?: Record<string, string> },
    options?: KmsCallOptions,
  ): Promise<{ CiphertextBlob?: Uint8Array | undefined; KeyId?: string | undefined }>;
  decrypt(
    input: { CiphertextBlob: Uint8Array; KeyId: string; EncryptionContext?: Record<string, string> },
    options?: KmsCallOptions,
  ): Promise<{ Plaintext?: Uint8Array | undefined; KeyId?: string | undefined }>;
  describeKey(
    input: { KeyId: string },
    options?: KmsCallOptions,
  ): Promise<{
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

/** A client built from the section, with what error messages and `close()` need. */
export type OwnedKmsClient = {
  readonly client: KmsClientLike;
  readonly region: string;
  /** The access key id in use, resolved from the chain if needed; undefined when unknown. */
  accessKeyId(): Promise<string | undefined>;
  close(): void;
};

/** Build the SDK client of the section (importing the SDK now). */
export async function createKmsClient(settings: AwsKmsSettings): Promise<OwnedKmsClient> {
  let sdk: typeof import('@aws-sdk/client-kms');
  let http: typeof import('@smithy/node-http-handler');
  try {
    [sdk, http] = await Promise.all([import('@aws-sdk/client-kms'), import('@smithy/node-http-handler')]);
  } catch (err) {
    throw errors.providerNotInstalled(
      `AWS KMS provider ${settings.id}: the AWS SDK could not be loaded (${(err as Error).message}).`,
      'Reinstall the provider: pnpm add @atrest/provider-awskms',
      { cause: err, details: { provider: settings.id, package: '@aws-sdk/client-kms' } },
    );
  }
  // Our own agent, so ca_file widens trust for this provider only; host names are still verified.
  const agent = new Agent({
    keepAlive: true,
    ...(settings.caCertificates === undefined ? {} : { ca: [...rootCertificates, ...settings.caCertificates] }),
  });
  const timeoutMs = settings.retry.requestTimeoutMs;
  const kms = new sdk.KMS({
    ...(settings.region === undefined ? {} : { region: settings.region }),
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint.href.replace(/\/$/, '') }),
    ...(settings.credentials === undefined ? {} : { credentials: settings.credentials }),
    maxAttempts: 1,
    requestHandler: new http.NodeHttpHandler({
      httpsAgent: agent,
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
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
    throw configProblem(
      settings.id,
      'region',
      `no AWS region (${(err as Error).message})`,
      'Set region, use a key ARN as key_id, or set AWS_REGION.',
      err,
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
