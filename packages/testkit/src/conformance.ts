// The provider conformance suite: every provider, ours or a third party's, runs it first. It takes
// the provider's definition, not an instance, and makes providers the way core makes them for an
// application (the definition checked as the loader checks a package's, the section completed from
// its schema, the instance inside core's guard), then runs one file of subtests per aspect.
import type { CheckedProvider, ProviderCreateOptions } from '@atrest/core';
import { openProvider, silentLogger } from '@atrest/core';
import type { Test } from 'tap';
import type { ConformanceProviders } from './conformance-common.js';
import { testLifecycle } from './conformance-lifecycle.js';
import { testRefusals } from './conformance-refusals.js';
import { testWrapping } from './conformance-wrapping.js';

/** What the suite needs to make providers. */
export type ConformanceOptions = {
  /** The provider's definition, as its package exports it in `providers`. */
  readonly definition: unknown;
  /** The `<type>` of the definition. */
  readonly type: string;
  /** The section of the provider under test: every instance made from it uses the same key. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The section of a provider of the same type with another key. */
  readonly otherConfig: Readonly<Record<string, unknown>>;
  /** The application's directory given to `create` (default: the current directory). */
  readonly appRoot?: string;
};

function providers(options: ConformanceOptions): ConformanceProviders {
  const make = (name: string, config: Readonly<Record<string, unknown>>): Promise<CheckedProvider> => {
    const createOptions: ProviderCreateOptions<Readonly<Record<string, unknown>>> = {
      id: `${options.type}.${name}`,
      type: options.type,
      name,
      config,
      app: 'atrest',
      appRoot: options.appRoot ?? process.cwd(),
      firstUse: true,
      logger: silentLogger,
    };
    return openProvider(options.definition, createOptions);
  };
  const schema = (options.definition as { configSchema?: Record<string, { sensitive?: boolean }> }).configSchema;
  const sensitiveValues = Object.entries(options.config)
    .filter(([key, value]) => schema?.[key]?.sensitive === true && typeof value === 'string' && value.length >= 4)
    .map(([, value]) => String(value));
  return {
    type: options.type,
    create: () => make('conformance', options.config),
    createOther: () => make('other', options.otherConfig),
    createWith: (config) => make('conformance', config),
    sensitiveValues,
  };
}

/** Run the conformance suite as subtests of `t`: wrapping, refusals, lifecycle. */
export async function runProviderConformance(t: Test, options: ConformanceOptions): Promise<void> {
  const made = providers(options);
  await t.test('wrapping', (t) => testWrapping(t, made));
  await t.test('refusals', (t) => testRefusals(t, made));
  await t.test('lifecycle', (t) => testLifecycle(t, made));
}
