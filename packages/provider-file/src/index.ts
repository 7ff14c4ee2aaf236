// @atrest/provider-file: the `file` and `secret_key` providers, and how the host's configuration
// reaches them before any section names them (`sharedConfig`): `<APP>_ENCRYPTION_KEY_PATH` and the
// key file `/srv/<app>-encryption.key` for `file.default`, the provider by default; `[security]
// secret_key` (Metabase's `<APP>_ENCRYPTION_SECRET_KEY`, Grafana's id `secretKey.v1`) for
// `secret_key.default`, the provider by default once a passphrase is set.
import type { SharedConfigDeclaration } from '@atrest/core';
import { fileProvider } from './file-provider.js';
import { MIN_PASSPHRASE_LENGTH, secretKeyProvider } from './secret-key-provider.js';

export { FileKeyProvider, fileProvider, openKeyFile } from './file-provider.js';
export type { FileProviderConfig } from './file-provider.js';
export { DEFAULT_KDF, MIN_PASSPHRASE_LENGTH, SecretKeyProvider, secretKeyProvider } from './secret-key-provider.js';
export type { SecretKeyProviderConfig } from './secret-key-provider.js';
export { addKeyVersion, fingerprint, readKeyFile } from './keyfile.js';
export type { FileKey, KeyRing } from './keyfile.js';

const fileSharedConfig: SharedConfigDeclaration = {
  keys: [
    {
      section: 'default',
      key: 'key_path',
      env: ['ENCRYPTION_KEY_PATH'],
      doc: 'Path of the key file of file.default',
      default: (app) => `/srv/${app}-encryption.key`,
    },
  ],
  defaultProvider: { section: 'default', when: 'otherwise' },
};

const secretKeySharedConfig: SharedConfigDeclaration = {
  keys: [
    {
      section: 'default',
      key: 'secret_key',
      ini: 'security.secret_key',
      env: ['ENCRYPTION_SECRET_KEY', 'SECURITY_SECRET_KEY'],
      doc: `Passphrase of the secret_key.default provider (${MIN_PASSPHRASE_LENGTH}+ characters)`,
      sensitive: true,
    },
  ],
  idAliases: { 'secretKey.v1': 'default' },
  defaultProvider: { section: 'default', when: 'configured' },
};

/** The provider definitions of this package, as atrest's loader reads them (with their shared configuration). */
export const providers = [
  { ...fileProvider, sharedConfig: fileSharedConfig },
  { ...secretKeyProvider, sharedConfig: secretKeySharedConfig },
];
