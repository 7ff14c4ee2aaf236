// The one catalogue of atrest errors. Each code is stable and never reused; callers test `err.code`.
// Messages say what is wrong and what to do; they never contain key material or secret values.

/** Every error code atrest throws, with the CLI exit code it maps to (2: configuration, usage or key; 1: operation). */
export const errorCodes = {
  ATREST_CONFIG_INVALID: 2,
  ATREST_CONFIG_UNKNOWN_KEY: 2,
  ATREST_CONFIG_FILE: 2,
  ATREST_USAGE: 2,
  ATREST_PROVIDER_UNKNOWN: 2,
  ATREST_PROVIDER_NAME_INVALID: 2,
  ATREST_PROVIDER_NOT_INSTALLED: 2,
  ATREST_PROVIDER_INVALID: 2,
  ATREST_PROVIDER_API_VERSION: 2,
  ATREST_PROVIDER_AUTH: 2,
  ATREST_PROVIDER_UNAVAILABLE: 1,
  ATREST_PROVIDER_FAILED: 1,
  ATREST_PROVIDER_CONTRACT: 1,
  ATREST_TLS: 2,
  ATREST_KEY_MISSING: 2,
  ATREST_KEY_MISMATCH: 2,
  ATREST_KEY_FILE_PERMISSIONS: 2,
  ATREST_KEY_FILE_INVALID: 2,
  ATREST_WRONG_KEY: 2,
  ATREST_DECRYPT_FAILED: 1,
  ATREST_FORMAT_INVALID: 1,
  ATREST_NOT_ENCRYPTED: 1,
  ATREST_DATA_KEY_NOT_FOUND: 1,
  ATREST_SECRET_NOT_FOUND: 1,
  ATREST_STORE: 1,
  ATREST_SCHEMA_TOO_NEW: 2,
  ATREST_LOCKED: 1,
  ATREST_CLOSED: 1,
  ATREST_CONFLICT: 1,
  ATREST_KEY_IN_USE: 1,
  ATREST_MIGRATION_FAILED: 1,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Facts attached to an error for programs (CLI `--json`, logs); never secret values. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

/** The base of every error atrest throws. */
export class AtrestError extends Error {
  /** Stable identifier, `ATREST_…`. */
  readonly code: ErrorCode;
  /** Machine-readable facts (paths, key names, counts). */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AtrestError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The exit code the CLI uses for this error. */
  get exitCode(): 1 | 2 {
    return errorCodes[this.code];
  }
}

/** True when `err` is an atrest error, optionally with the given code (works across two copies of core). */
export function isAtrestError(err: unknown, code?: ErrorCode): err is AtrestError {
  if (typeof err !== 'object' || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== 'string' || !(c in errorCodes)) return false;
  return code === undefined || c === code;
}
