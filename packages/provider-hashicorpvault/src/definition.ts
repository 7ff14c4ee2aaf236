// The `hashicorpvault` provider definition: what core's loader reads. Its apiVersion is a literal,
// the version this package was written for, so core's check can refuse it when they differ.
import { defineProvider } from '@atrest/core';
import type { HashicorpVaultConfig } from './config.js';
import { hashicorpVaultConfigSchema } from './config.js';

export const hashicorpVaultProvider = defineProvider<HashicorpVaultConfig>({
  apiVersion: 1,
  type: 'hashicorpvault',
  description: 'HashiCorp Vault / OpenBao Transit: data keys wrapped by a transit key (encrypt, decrypt, rewrap)',
  configSchema: hashicorpVaultConfigSchema,
  // The HTTPS client is loaded on first use: an application whose section is unused never loads it.
  create: async (options) => (await import('./provider.js')).createHashicorpVaultProvider(options),
});
