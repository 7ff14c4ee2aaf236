// @atrest/provider-file: the `file` and `secret_key` providers.
import { fileProvider } from './file-provider.js';
import { secretKeyProvider } from './secret-key-provider.js';

export { FileKeyProvider, fileProvider, openKeyFile } from './file-provider.js';
export type { FileProviderConfig } from './file-provider.js';
export { DEFAULT_KDF, MIN_PASSPHRASE_LENGTH, SecretKeyProvider, secretKeyProvider } from './secret-key-provider.js';
export type { SecretKeyProviderConfig } from './secret-key-provider.js';
export { addKeyVersion, fingerprint, readKeyFile } from './keyfile.js';
export type { FileKey, KeyRing } from './keyfile.js';

/** The provider definitions of this package, as atrest's loader expects them. */
export const providers = [fileProvider, secretKeyProvider];
