// @atrest/provider-azurekv: the `azurekv` key provider (Azure Key Vault). Importing this module
// loads no Azure SDK; @azure/keyvault-keys and @azure/identity are imported at first use.
import type { ProviderDefinition } from '@atrest/core';
import type { AzureKeyVaultConfig } from './config.js';
import { azureKeyVaultProvider } from './definition.js';

/** What core's loader reads: the definitions this package offers. */
export const providers: readonly ProviderDefinition<AzureKeyVaultConfig>[] = [azureKeyVaultProvider];

export { azureKeyVaultProvider } from './definition.js';
export { createAzureKeyVaultProvider } from './provider.js';
export type { AzureKeyVaultProviderDeps } from './provider.js';
export type {
  AzureCallOptions,
  AzureClientFactoryOptions,
  AzureCryptographyClient,
  AzureKeyVaultClients,
  AzureKeyVaultKey,
  AzureTokenCredential,
} from './client.js';
export { azureKeyVaultConfigSchema, wrapAlgorithms } from './config.js';
export type { AzureKeyVaultConfig, WrapAlgorithm } from './config.js';
