// @atrest/provider-awskms public API. Importing it loads no AWS SDK code: that happens in `create`.
import type { ProviderDefinition } from '@atrest/core';
import type { AwsKmsConfig } from './config.js';
import { awsKmsProvider } from './definition.js';

/** The provider definitions of this package (core's loader reads this). */
export const providers: readonly ProviderDefinition<AwsKmsConfig>[] = [awsKmsProvider];

export { awsKmsProvider } from './definition.js';
export { createAwsKmsProvider } from './provider.js';
export type { AwsKmsProviderDeps } from './provider.js';
export type { KmsCallOptions, KmsClientLike } from './client.js';
export type { AwsKmsConfig } from './config.js';
