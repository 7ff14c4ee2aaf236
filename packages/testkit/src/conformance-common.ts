// What the conformance suite's aspects share: the providers of one run, the context they bind,
// and the assertions on refusals. conformance.ts runs the aspects; each aspect is a file.
import type { CheckedProvider, ErrorCode } from '@atrest/core';
import { isAtrestError } from '@atrest/core';
import type { Test } from 'tap';

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
