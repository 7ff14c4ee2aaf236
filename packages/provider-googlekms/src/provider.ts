// The `googlekms` provider: data keys wrapped by Cloud KMS encrypt/decrypt under one crypto key,
// the caller's context bound as additional authenticated data, and the CRC32C integrity fields
// checked both ways: a request the service did not verify, or an answer whose checksum does not
// match, is refused and retried. Every call runs under the provider kit's bounded retries.
import { encodeContext, errors, withRetries } from '@atrest/core';
import type { EncryptionContext, KeyProvider, ProviderCreateOptions, WrappedKey } from '@atrest/core';
import type { KmsCallOptions } from './client.js';
import { createKmsClient } from './client.js';
import type { GoogleKmsConfig } from './config.js';
import { parseGoogleKmsSettings } from './config.js';
import { crc32c } from './crc32c.js';
import { IntegrityError, classifyKmsFailure } from './errors.js';

/** The stored bytes: [format 0x01][Cloud KMS ciphertext]. A stored format: add a byte to change it. */
const FORMAT_V1 = 0x01;
const AAD_LABEL = Buffer.from('atrest/provider-googlekms/context/v1\u0000');

function bytes(value: Uint8Array | string | null | undefined): Buffer | undefined {
  if (value instanceof Uint8Array) return Buffer.from(value);
  return typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
}

/** Build a `googlekms` provider from its validated section. */
export async function createGoogleKmsProvider(options: ProviderCreateOptions<GoogleKmsConfig>): Promise<KeyProvider> {
  const settings = parseGoogleKmsSettings(options.id, options.config, options.logger);
  const { id, keyName } = settings;
  const owned = await createKmsClient(settings);
  const { client } = owned;
  const closing = new AbortController();
  const callOptions: KmsCallOptions = { timeout: settings.retry.requestTimeoutMs, maxRetries: 0 };
  let lastVersion: string | undefined;

  const checkOpen = (): void => {
    if (closing.signal.aborted) throw errors.closed(`Google Cloud KMS provider ${id}`);
  };
  const call = <T>(operation: string, attempt: () => Promise<T>): Promise<T> =>
    withRetries({
      providerId: id,
      operation,
      target: settings.endpoint?.host ?? 'cloudkms.googleapis.com',
      settings: settings.retry,
      logger: options.logger,
      signal: closing.signal,
      checkOpen,
      attempt,
      classify: (err) => classifyKmsFailure(err, settings, operation),
    });
  const aadOf = (context: EncryptionContext): Buffer => Buffer.concat([AAD_LABEL, encodeContext(context)]);

  const provider: KeyProvider = {
    async wrapKey(dataKey: Uint8Array, context: EncryptionContext): Promise<WrappedKey> {
      const aad = aadOf(context);
      const out = await call('encrypt', async () => {
        const [answer] = await client.encrypt(
          {
            name: keyName,
            plaintext: dataKey,
            additionalAuthenticatedData: aad,
            plaintextCrc32c: { value: crc32c(dataKey) },
            additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
          },
          callOptions,
        );
        if (answer.verifiedPlaintextCrc32c !== true || answer.verifiedAdditionalAuthenticatedDataCrc32c !== true) {
          throw new IntegrityError('Cloud KMS did not verify the request');
        }
        const ciphertext = bytes(answer.ciphertext);
        if (ciphertext === undefined || String(answer.ciphertextCrc32c?.value) !== String(crc32c(ciphertext))) {
          throw new IntegrityError('the ciphertext Cloud KMS returned');
        }
        return { ciphertext, version: String(answer.name ?? '') };
      });
      if (!out.version.startsWith(`${keyName}/cryptoKeyVersions/`)) {
        throw errors.providerFailed(
          `Google Cloud KMS provider ${id}: encrypt answered for ${out.version || 'no key version'}, not ${keyName}.`,
          'Check key_id and endpoint.',
          { details: { provider: id } },
        );
      }
      lastVersion = out.version;
      return {
        ciphertext: new Uint8Array(Buffer.concat([Buffer.from([FORMAT_V1]), out.ciphertext])),
        keyRef: out.version,
      };
    },

    async unwrapKey(wrapped: WrappedKey, context: EncryptionContext): Promise<Uint8Array> {
      if (wrapped.ciphertext[0] !== FORMAT_V1 || wrapped.ciphertext.length < 2) {
        throw errors.decryptFailed(
          `Google Cloud KMS provider ${id}: the wrapped data key is damaged (not one this provider stored).`,
          'Restore the data key row from a backup.',
          { details: { provider: id } },
        );
      }
      // A copy, not a view: the library serializes a view's whole underlying buffer.
      const ciphertext = new Uint8Array(wrapped.ciphertext.subarray(1));
      const aad = aadOf(context);
      return call('decrypt', async () => {
        const [answer] = await client.decrypt(
          {
            name: keyName,
            ciphertext,
            additionalAuthenticatedData: aad,
            ciphertextCrc32c: { value: crc32c(ciphertext) },
            additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
          },
          callOptions,
        );
        const plaintext = bytes(answer.plaintext);
        if (plaintext === undefined || String(answer.plaintextCrc32c?.value) !== String(crc32c(plaintext))) {
          plaintext?.fill(0);
          throw new IntegrityError('the plaintext Cloud KMS returned');
        }
        return new Uint8Array(plaintext);
      });
    },

    async health(): Promise<void> {
      // One encrypt of a throwaway: credentials, permission, key and version state answer at once.
      await provider.wrapKey(new Uint8Array(32), { atrest_health: 'probe' });
    },

    describe() {
      return {
        key_id: keyName,
        ...(lastVersion === undefined ? {} : { key_version: lastVersion }),
        endpoint: settings.endpoint?.origin ?? 'https://cloudkms.googleapis.com',
        credentials: settings.serviceAccount?.clientEmail ?? 'application default credentials',
        ...(settings.serviceAccount === undefined ? {} : { credentials_file: settings.serviceAccount.path }),
        ...(settings.caFile === undefined ? {} : { ca_file: settings.caFile }),
      };
    },

    async close(): Promise<void> {
      if (closing.signal.aborted) return;
      closing.abort();
      owned.close();
    },
  };
  return provider;
}
