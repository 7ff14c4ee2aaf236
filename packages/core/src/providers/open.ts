// A provider made from its definition the way core makes one for an application: the definition
// checked as the loader checks a package's, the section completed from its schema (an unknown key
// refused), and the instance wrapped in core's guard. For conformance suites and provider tools.
import { errors } from '../errors.js';
import { CheckedProvider } from './checked.js';
import type { ProviderCreateOptions } from './contract.js';
import { validateDefinition } from './loader.js';

/**
 * Check `definition` (an unknown value: what a package exports), fill the section's unset keys with
 * the schema's defaults, create the provider and wrap it in core's guard.
 */
export async function openProvider(
  definition: unknown,
  options: ProviderCreateOptions<Readonly<Record<string, unknown>>>,
): Promise<CheckedProvider> {
  const checked = validateDefinition({ providers: [definition] }, options.type, `the ${options.type} definition`);
  const schema = checked.configSchema;
  const unknown = Object.keys(options.config).filter((key) => !Object.hasOwn(schema, key));
  if (unknown.length > 0) {
    throw errors.configUnknownKey(
      `[security.encryption.${options.id}] has unknown key(s) ${unknown.join(', ')}.`,
      `The ${options.type} provider knows ${Object.keys(schema).join(', ')}.`,
      { details: { provider: options.id, keys: unknown } },
    );
  }
  const defaults = Object.fromEntries(Object.entries(schema).map(([key, entry]) => [key, entry.default]));
  const inner = await checked.create({ ...options, config: { ...defaults, ...options.config } });
  return new CheckedProvider(options.id, options.type, inner);
}
