// The `azurekv` provider definition: what core's loader reads. Its apiVersion is a literal, the
// version this package was written for, so core's check can refuse it when they differ.
import { defineProvider } from '@atrest/core';
import type { AzureKeyVaultConfig } from './config.js';
import { azureKeyVaultConfigSchema } from './config.js';
import { createAzureKeyVaultProvider } from './provider.js';

export const azureKeyVaultProvider = defineProvider<AzureKeyVaultConfig>({
  apiVersion: 1,
  type: 'azurekv',
  description:
    'Azure Key Vault: data keys wrapped by an RSA key in a vault (RSA-OAEP-256), with the Azure credential chain',
  configSchema: azureKeyVaultConfigSchema,
  create: (options) => createAzureKeyVaultProvider(options),
});
