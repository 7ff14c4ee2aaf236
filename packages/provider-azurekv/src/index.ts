// @atrest/provider-azurekv: the `azurekv` key provider (Azure Key Vault). Importing this module
// loads no Azure SDK; @azure/keyvault-keys and @azure/identity are imported at first use.
import { PROVIDER_API_VERSION, defineProvider } from '@atrest/core';
import type { ProviderDefinition } from '@atrest/core';
import type { AzureKeyVaultConfig } from './config.js';
import { configSchema } from './config.js';
import { createAzureKeyVaultProvider } from './provider.js';

export { configSchema, parseDuration, wrapAlgorithms } from './config.js';
export type { AzureKeyVaultConfig, WrapAlgorithm } from './config.js';
export { createAzureKeyVaultProvider } from './provider.js';
export type { AzureKeyVaultProviderOptions } from './provider.js';
export type {
  AzureCallOptions,
  AzureClientFactoryOptions,
  AzureCryptographyClient,
  AzureKeyVaultClients,
  AzureKeyVaultKey,
  AzureTokenCredential,
} from './sdk.js';

/** The `azurekv` provider definition. */
export const azureKeyVaultProvider: ProviderDefinition<AzureKeyVaultConfig> = defineProvider<AzureKeyVaultConfig>({
  apiVersion: PROVIDER_API_VERSION,
  type: 'azurekv',
  description:
    'Azure Key Vault: data keys wrapped by an RSA key in a vault (RSA-OAEP-256), with the Azure credential chain',
  configSchema,
  create: (options) => createAzureKeyVaultProvider({ id: options.id, config: options.config, logger: options.logger }),
});

/** What core's loader reads: the definitions this package offers. */
export const providers: readonly ProviderDefinition<AzureKeyVaultConfig>[] = [azureKeyVaultProvider];
