// The `awskms` provider definition: what core's loader reads. Its apiVersion is a literal, the
// version this package was written for, so core's check can refuse it when they differ.
import { defineProvider } from '@atrest/core';
import type { AwsKmsConfig } from './config.js';
import { awsKmsConfigSchema } from './config.js';
import { createAwsKmsProvider } from './provider.js';

export const awsKmsProvider = defineProvider<AwsKmsConfig>({
  apiVersion: 1,
  type: 'awskms',
  description: 'AWS KMS: data keys wrapped by a KMS key (Encrypt/Decrypt with encryption context)',
  configSchema: awsKmsConfigSchema,
  create: (options) => createAwsKmsProvider(options),
});
