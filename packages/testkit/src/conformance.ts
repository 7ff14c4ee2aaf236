// The provider conformance suite: every provider, ours or a third party's, runs it first. It takes
// the provider's definition, not an instance, and makes providers the way core makes them for an
// application (the definition checked as the loader checks a package's, the section completed from
// its schema, the instance inside core's guard), then runs one file of subtests per aspect.
import type { CheckedProvider, ErrorCode, ProviderCreateOptions } from '@atrest/core';
import { isAtrestError, openProvider, silentLogger } from '@atrest/core';
import type { Test } from 'tap';
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

/** Makes the providers of one suite run. */
export type ConformanceProviders = {
  readonly type: string;
  /** A fresh provider on the key under test. */
  create(): Promise<CheckedProvider>;
  /** A fresh provider on the other key. */
  createOther(): Promise<CheckedProvider>;
  /** A provider from `config` as given, for checks of the section itself. */
  createWith(config: Readonly<Record<string, unknown>>): Promise<CheckedProvider>;
  /** The section's values marked sensitive in the schema: they must never show in `describe()`. */
  readonly sensitiveValues: readonly string[];
};

/** The context every aspect binds. */
export const conformanceContext = {
  data_key_id: '00112233445566778899aabbccddeeff',
  label: 'conformance/2026-01-01',
} as const;

/** The rejection of `promise`, or undefined when it resolves. */
export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** Assert that `err` is an AtrestError with one of `codes`. */
export function expectCode(t: Test, err: unknown, codes: readonly ErrorCode[], what: string): void {
  const code = (err as { code?: unknown } | undefined)?.code;
  t.ok(
    isAtrestError(err) && (codes as readonly string[]).includes(err.code),
    `${what}: ${codes.join(' or ')} (got ${typeof code === 'string' ? code : String(err)})`,
  );
}

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
