// @atrest/provider-awskms public API. Importing it loads no AWS SDK code: that happens in `create`.
import type { ProviderDefinition } from '@atrest/core';
import { awsKmsProvider } from './provider.js';
import type { AwsKmsConfig } from './settings.js';

/** The provider definitions of this package (core's loader reads this). */
export const providers: readonly ProviderDefinition<AwsKmsConfig>[] = [awsKmsProvider];

export { awsKmsProvider, createAwsKmsProvider } from './provider.js';
export type { AwsKmsProviderDeps, KmsClientLike } from './provider.js';
export { awsKmsConfigSchema, DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_MS } from './settings.js';
export type { AwsKmsConfig } from './settings.js';
