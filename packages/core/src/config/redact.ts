// The one rule for showing configuration values: a secret that is set shows as `<redacted>`, never
// its value nor its length, and a validator's reason is not repeated when it might quote a secret.
// `config show`, its JSON and every error message get their values through here, and so do dumps
// (JSON.stringify, util.inspect, console.log) of the configuration and of the instance.
import { inspect } from 'node:util';

export const REDACTED = '<redacted>';

function isEmpty(value: unknown): boolean {
  return value === '' || value === undefined || (Array.isArray(value) && value.length === 0);
}

/** A value as it may be shown: a secret's only as "set" (`<redacted>`) or not set (''). */
export function shownValue<T>(value: T, sensitive: boolean): T | typeof REDACTED | '' {
  if (!sensitive) return value;
  return isEmpty(value) ? '' : REDACTED;
}

/**
 * A validator's reason as it may be shown: a provider package's own validator (`trusted` false) of
 * a secret might quote the value, so its reason is left out.
 */
export function shownReason(reason: string | undefined, sensitive: boolean, trusted: boolean): string | undefined {
  return sensitive && !trusted ? undefined : reason;
}

/**
 * A URL (valid or not) fit to show: any `password=` parameter, and everything between the user's
 * colon and the last `@` (a password may hold unencoded / or ?), become `***`; host, port,
 * database and user stay visible.
 */
export function redactUrl(text: string): string {
  const out = text.replace(/([?&;]password=)[^&#]*/gi, '$1***');
  const start = out.indexOf('://');
  const colon = start < 0 ? -1 : out.indexOf(':', start + 3);
  const at = out.lastIndexOf('@');
  return colon >= 0 && at > colon ? `${out.slice(0, colon + 1)}***${out.slice(at)}` : out;
}

/**
 * Make dumps of `object` (JSON.stringify, util.inspect, console.log) show `shown()` instead: the
 * object keeps its real values for the code that reads them. Non-enumerable, so a copy lacks it.
 */
export function dumpsAs<T extends object>(object: T, shown: () => unknown): T {
  Object.defineProperty(object, 'toJSON', { value: shown, enumerable: false });
  Object.defineProperty(object, inspect.custom, {
    value: (_depth: number, options: object) => inspect(shown(), options),
    enumerable: false,
  });
  return object;
}
