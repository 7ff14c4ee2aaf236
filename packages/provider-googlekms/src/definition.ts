// The `googlekms` provider definition: what core's loader reads. Its apiVersion is a literal, the
// version this package was written for, so core's check can refuse it when they differ.
import { defineProvider } from '@atrest/core';
import type { GoogleKmsConfig } from './config.js';
import { googleKmsConfigSchema } from './config.js';
import { createGoogleKmsProvider } from './provider.js';

export const googleKmsProvider = defineProvider<GoogleKmsConfig>({
  apiVersion: 1,
  type: 'googlekms',
  description: 'Google Cloud KMS: data keys wrapped by a crypto key (encrypt/decrypt with AAD and CRC32C)',
  configSchema: googleKmsConfigSchema,
  create: (options) => createGoogleKmsProvider(options),
});
