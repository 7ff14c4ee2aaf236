// @atrest/provider-googlekms public API. Importing it loads none of Google's libraries: that happens in `create`.
import type { ProviderDefinition } from '@atrest/core';
import type { GoogleKmsConfig } from './config.js';
import { googleKmsProvider } from './definition.js';

/** The provider definitions of this package (core's loader reads this). */
export const providers: readonly ProviderDefinition<GoogleKmsConfig>[] = [googleKmsProvider];

export { googleKmsProvider } from './definition.js';
export type { GoogleKmsConfig } from './config.js';
