// Value formats: parsing of atrest's own values (durations, provider ids, targets) and the strict
// string → typed coercion done before convict validates. Convict's own coercion is lenient
// (parseInt('12abc') is 12, any Boolean text but 'false' is true), so values reach it already typed.
import type { TargetSpec } from './types.js';

export const PROVIDER_TYPE_PATTERN = /^[a-z][a-z0-9_-]*$/;
export const PROVIDER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses '15m', '30s', '1h30m', '500ms', '2d' or a whole number of milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (!DURATION_PATTERN.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(DURATION_PART)) {
    total += Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Milliseconds as the shortest duration text: 900000 → '15m', 90000 → '1m30s'. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}

/** A provider id split in two; undefined when it is not `<type>.<name>` with valid parts. */
export function parseProviderId(id: string): { type: string; name: string } | undefined {
  const dot = id.indexOf('.');
  if (dot < 0) return undefined;
  const type = id.slice(0, dot);
  const name = id.slice(dot + 1);
  if (!PROVIDER_TYPE_PATTERN.test(type) || !PROVIDER_NAME_PATTERN.test(name)) return undefined;
  return { type, name };
}

export const TARGETS_ALLOWED =
  'table.column[:json][@row_key_column] items separated by spaces or commas, table and columns being identifiers' +
  ' (letters, digits and "_", not starting with a digit), each column once';

/** What a provider id may be, the built-in types given as examples. */
export function providerIdAllowed(builtinTypes: readonly string[]): string {
  return (
    '<type>.<name>: the type in lower-case letters, digits, "_" or "-" starting with a letter' +
    ` (${[...builtinTypes, '…'].join(', ')}), the name in letters, digits, "_" or "-"`
  );
}

/** Splits a space or comma separated list. */
export function splitList(text: string): string[] {
  return text.split(/[\s,]+/).filter((item) => item !== '');
}

/** Parses `[secrets_migration] targets`; throws a message naming the bad item. */
export function parseTargets(text: string): TargetSpec[] {
  const targets: TargetSpec[] = [];
  const seen = new Set<string>();
  for (const spec of splitList(text)) {
    const match = /^([^.:@]+)\.([^.:@]+)(?::(json))?(?:@([^.:@]+))?$/.exec(spec);
    const table = match?.[1];
    const column = match?.[2];
    const rowKey = match?.[4];
    if (
      match === null ||
      table === undefined ||
      column === undefined ||
      !IDENTIFIER_PATTERN.test(table) ||
      !IDENTIFIER_PATTERN.test(column) ||
      (rowKey !== undefined && !IDENTIFIER_PATTERN.test(rowKey))
    ) {
      throw new Error(`"${spec}" is not table.column[:json][@row_key_column]`);
    }
    if (rowKey === column) throw new Error(`"${spec}" binds ${column} to itself: name another column after @`);
    const place = `${table}.${column}`;
    if (seen.has(place)) throw new Error(`${place} is listed twice`);
    seen.add(place);
    const json = match[3] === 'json';
    targets.push(rowKey === undefined ? { spec, table, column, json } : { spec, table, column, json, rowKey });
  }
  return targets;
}

/** How a schema key's string values become typed, and how its allowed values are described. */
export type KeyFormat = {
  /** The format handed to convict (a constructor, a format name, an array of values or a function). */
  convict: unknown;
  /** String → typed value; undefined when the text cannot be read as this format. */
  coerce(text: string): unknown;
  /** What is allowed, for error messages. */
  allowed: string;
  /** False when the validator comes from a provider package: its messages might quote a secret value. */
  trusted: boolean;
};

// Provider schemas may name 'duration' and 'url', which convict 6 no longer ships; they get local
// validators here instead of global `convict.addFormat` calls that would change the host's convict.
function durationValidator(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new Error('must be a duration');
}

function urlValidator(value: unknown): void {
  if (value === '') return;
  if (typeof value !== 'string' || !URL.canParse(value)) throw new Error('must be an absolute URL');
}

const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_TEXT = /^[+-]?\d+$/;
const TRUE_TEXT = /^(?:true|yes|on|1)$/i;
const FALSE_TEXT = /^(?:false|no|off|0)$/i;

function coerceNumber(text: string): number | undefined {
  return NUMBER_TEXT.test(text.trim()) ? Number(text.trim()) : undefined;
}
function coerceInteger(text: string): number | undefined {
  return INTEGER_TEXT.test(text.trim()) ? Number.parseInt(text.trim(), 10) : undefined;
}
function coerceBoolean(text: string): boolean | undefined {
  if (TRUE_TEXT.test(text.trim())) return true;
  if (FALSE_TEXT.test(text.trim())) return false;
  return undefined;
}
const identity = (text: string): string => text;

/** The KeyFormat for a schema key's `format` (and `default`, when the format is omitted). */
export function keyFormat(format: unknown, defaultValue: unknown): KeyFormat {
  if (format === undefined) {
    if (typeof defaultValue === 'number') return keyFormat(Number, defaultValue);
    if (typeof defaultValue === 'boolean') return keyFormat(Boolean, defaultValue);
    return keyFormat(String, defaultValue);
  }
  if (format === String || format === 'String')
    return { convict: String, coerce: identity, allowed: 'text', trusted: true };
  if (format === Number || format === 'Number')
    return { convict: Number, coerce: coerceNumber, allowed: 'a number', trusted: true };
  if (format === Boolean || format === 'Boolean') {
    return {
      convict: Boolean,
      coerce: coerceBoolean,
      allowed: 'true or false (yes/no, on/off, 1/0 also work)',
      trusted: true,
    };
  }
  if (format === Array || format === 'Array')
    return { convict: Array, coerce: splitList, allowed: 'a list separated by spaces or commas', trusted: true };
  if (Array.isArray(format)) {
    const values: unknown[] = format;
    const coerce = (text: string): unknown => {
      // An enumeration of numbers or booleans takes the typed value that matches the text.
      const typed = values.find((v) => String(v) === text);
      return typed === undefined ? text : typed;
    };
    return { convict: values, coerce, allowed: `one of: ${values.map((v) => String(v)).join(', ')}`, trusted: true };
  }
  if (typeof format === 'function')
    return { convict: format, coerce: identity, allowed: 'a value this key accepts', trusted: false };
  switch (format) {
    case 'int':
    case 'integer':
      return { convict: format, coerce: coerceInteger, allowed: 'an integer', trusted: true };
    case 'nat':
      return { convict: format, coerce: coerceInteger, allowed: 'a whole number, 0 or more', trusted: true };
    case 'port':
      return { convict: format, coerce: coerceInteger, allowed: 'a port number, 0 to 65535', trusted: true };
    case 'duration':
      return {
        convict: durationValidator,
        coerce: (text) => (text === '' ? '' : parseDuration(text)),
        allowed: 'a duration such as 30s, 15m, 1h, 1h30m or a whole number of milliseconds',
        trusted: true,
      };
    case 'url':
      return {
        convict: urlValidator,
        coerce: identity,
        allowed: 'an absolute URL such as https://host:port/path',
        trusted: true,
      };
    case '*':
      return { convict: format, coerce: identity, allowed: 'any value', trusted: true };
    default:
      // Another named format: whatever convict knows by that name (convict refuses unknown names).
      return { convict: format, coerce: identity, allowed: `a value of format "${String(format)}"`, trusted: false };
  }
}
