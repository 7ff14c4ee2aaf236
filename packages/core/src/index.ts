// @atrest/core public API. Every export is named here; there is no `export *`.
export { AtrestError, errorCodes, isAtrestError } from './errors.js';
export type { ErrorCode, ErrorDetails } from './errors.js';
export { silentLogger } from './logger.js';
export type { Logger, LogFields } from './logger.js';
export { PROVIDER_API_VERSION, defineProvider } from './providers/contract.js';
export type {
  EncryptionContext,
  KeyProvider,
  ProviderConfigKey,
  ProviderConfigSchema,
  ProviderCreateOptions,
  ProviderDefinition,
  RotateKeyOptions,
  WrappedKey,
} from './providers/contract.js';
