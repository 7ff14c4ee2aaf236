// The Cloud KMS client: @google-cloud/kms in its HTTP/JSON (`fallback`) mode and google-auth-library,
// both imported on first use only, typed structurally (only the calls the provider makes). Every
// request, the token's included, goes through our own HTTPS agent (ca_file widens trust for this
// provider only). A service account key file's
// `token_uri` is honoured, as Google's Go and Python libraries do: its Node library always asks
// oauth2.googleapis.com. Library retries are off: the provider kit's loop retries whole calls.
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { errors } from '@atrest/core';
import type { GoogleKmsSettings } from './config.js';

/** Bytes as the library hands them back (Buffer or Uint8Array; base64 text in some paths). */
type Bytes = Uint8Array | string | null | undefined;
/** An Int64Value: a number, its decimal text, or a Long (whose toString is decimal). */
type Checksum = { value?: unknown } | null | undefined;

/** Per-call options: the time limit of one attempt; no library retries. */
export type KmsCallOptions = { readonly timeout: number; readonly maxRetries: 0 };

/** The Cloud KMS calls the provider makes (a KeyManagementServiceClient fits). */
export type KmsClientLike = {
  encrypt(
    request: {
      name: string;
      plaintext: Uint8Array;
      additionalAuthenticatedData: Uint8Array;
      plaintextCrc32c: { value: number };
      additionalAuthenticatedDataCrc32c: { value: number };
    },
    options?: KmsCallOptions,
  ): Promise<
    [
      {
        name?: string | null;
        ciphertext?: Bytes;
        ciphertextCrc32c?: Checksum;
        verifiedPlaintextCrc32c?: boolean | null;
        verifiedAdditionalAuthenticatedDataCrc32c?: boolean | null;
      },
      ...unknown[],
    ]
  >;
  decrypt(
    request: {
      name: string;
      ciphertext: Uint8Array;
      additionalAuthenticatedData: Uint8Array;
      ciphertextCrc32c: { value: number };
      additionalAuthenticatedDataCrc32c: { value: number };
    },
    options?: KmsCallOptions,
  ): Promise<[{ plaintext?: Bytes; plaintextCrc32c?: Checksum }, ...unknown[]]>;
  close(): Promise<void>;
};

const KMS_SCOPE = 'https://www.googleapis.com/auth/cloudkms';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Build the library client of the section (importing the libraries now). */
export async function createKmsClient(settings: GoogleKmsSettings): Promise<{ client: KmsClientLike; close(): void }> {
  let kms: typeof import('@google-cloud/kms');
  let auth: typeof import('google-auth-library');
  try {
    [kms, auth] = await Promise.all([import('@google-cloud/kms'), import('google-auth-library')]);
  } catch (err) {
    throw errors.providerNotInstalled(
      `Google Cloud KMS provider ${settings.id}: Google's libraries could not be loaded (${(err as Error).message}).`,
      'Reinstall the provider: pnpm add @atrest/provider-googlekms',
      { cause: err, details: { provider: settings.id, package: '@google-cloud/kms' } },
    );
  }
  const agent = new Agent({
    keepAlive: true,
    ...(settings.caCertificates === undefined ? {} : { ca: [...rootCertificates, ...settings.caCertificates] }),
  });
  const account = settings.serviceAccount;
  const authClient = account
    ? new auth.JWT({
        email: account.clientEmail,
        key: account.privateKey,
        ...(account.privateKeyId === undefined ? {} : { keyId: account.privateKeyId }),
        scopes: [KMS_SCOPE],
        // The assertion's audience is the token endpoint it is sent to.
        additionalClaims: { aud: account.tokenUri },
      })
    : await new auth.GoogleAuth({ scopes: [KMS_SCOPE] }).getClient().catch((err: unknown) => {
        throw errors.providerAuth(
          `Google Cloud KMS provider ${settings.id}: no credentials_file, and no application default credentials ` +
            `(${err instanceof Error ? err.message.split('\n')[0] : String(err)}).`,
          'Set credentials_file to a service account key, or GOOGLE_APPLICATION_CREDENTIALS, or run on Google Cloud.',
          { cause: err, details: { provider: settings.id } },
        );
      });
  authClient.transporter.interceptors.request.add({
    resolved: async (request) => {
      request.agent = agent;
      // One attempt per call: the kit retries (gaxios would retry token requests by itself).
      request.retryConfig = { ...request.retryConfig, retry: 0 };
      if (account && request.url.toString() === GOOGLE_TOKEN_URL) request.url = new URL(account.tokenUri);
      return request;
    },
  });
  const client = new kms.KeyManagementServiceClient({
    fallback: true,
    authClient,
    ...(settings.endpoint === undefined
      ? {}
      : {
          apiEndpoint: settings.endpoint.hostname.replace(/^\[|\]$/g, ''),
          port: Number(settings.endpoint.port || 443),
        }),
  });
  // The KMS client turns on self-signed JWTs for a service account; the key file's token endpoint is
  // asked instead (one access token an hour, its errors in OAuth 2.0's words).
  if (account) (authClient as { useJWTAccessWithScope?: boolean }).useJWTAccessWithScope = false;
  return {
    client,
    close() {
      void client.close().catch(() => undefined);
      agent.destroy();
    },
  };
}
