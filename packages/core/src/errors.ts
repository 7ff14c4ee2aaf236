// The one catalogue of atrest errors (fastify's lib/errors.js is the model). Each code is stable and
// never reused, has one exit code, and one factory that shapes its message: what is wrong, then
// what to do. Every error atrest lets out is made here; callers test `err.code`, never the text.
// Messages and details never contain key material or secret values.

/** The mark of an atrest error, shared by every copy of core loaded in one process. */
const ATREST_ERROR = Symbol.for('atrest.error');

/** Every error code, with the CLI exit code it maps to (2: configuration, usage or key; 1: operation). */
export const errorCodes = {
  ATREST_CONFIG_INVALID: 2,
  ATREST_CONFIG_UNKNOWN_KEY: 2,
  ATREST_CONFIG_FILE: 2,
  ATREST_USAGE: 2,
  ATREST_INVALID_ARGUMENT: 2,
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
  ATREST_KEY_FILE_WRITE: 1,
  ATREST_WRONG_KEY: 2,
  ATREST_DECRYPT_FAILED: 1,
  ATREST_FORMAT_INVALID: 1,
  ATREST_NOT_ENCRYPTED: 1,
  ATREST_PLAINTEXT_SEALED: 1,
  ATREST_ROW_KEY_MISSING: 1,
  ATREST_DATA_KEY_NOT_FOUND: 1,
  ATREST_SECRET_NOT_FOUND: 1,
  ATREST_STORE: 1,
  ATREST_NOT_INITIALIZED: 2,
  ATREST_STORE_NOT_INSTALLED: 2,
  ATREST_SCHEMA_TOO_NEW: 2,
  ATREST_LOCKED: 1,
  ATREST_LOCK_DAMAGED: 1,
  ATREST_CLOSED: 1,
  ATREST_CONFLICT: 1,
  ATREST_KEY_IN_USE: 1,
  ATREST_MIGRATION_FAILED: 1,
  ATREST_INTERNAL: 1,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Facts attached to an error for programs (CLI `--json`, logs); never secret values. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

/** What every factory takes besides its facts. */
export type ErrorExtra = { readonly cause?: unknown; readonly details?: ErrorDetails };

/** The base of every error atrest throws. Made by the factories of `errors`, never directly. */
export class AtrestError extends Error {
  /** Stable identifier, `ATREST_…`. */
  readonly code: ErrorCode;
  /** Machine-readable facts (paths, key names, counts). */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, extra: ErrorExtra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'AtrestError';
    this.code = code;
    this.details = extra.details ?? {};
    Object.defineProperty(this, ATREST_ERROR, { value: true });
  }

  /** The exit code the CLI uses for this error. */
  get exitCode(): 1 | 2 {
    return errorCodes[this.code];
  }
}

/**
 * True when `err` was made by atrest (any copy of core in this process), optionally with the given
 * code. A plain error that merely carries an `ATREST_…` string as its code is not one.
 */
export function isAtrestError(err: unknown, code?: ErrorCode): err is AtrestError {
  if (typeof err !== 'object' || err === null || (err as { [ATREST_ERROR]?: unknown })[ATREST_ERROR] !== true) {
    return false;
  }
  const c = (err as { code?: unknown }).code;
  if (typeof c !== 'string' || !(c in errorCodes)) return false;
  return code === undefined || c === code;
}

/** "What is wrong. What to do." — the shape of every message. */
function sentence(problem: string, fix: string | undefined): string {
  const p = problem.trimEnd();
  const stop = /[.!?:]$/.test(p) ? '' : '.';
  return fix === undefined || fix === '' ? `${p}${stop}` : `${p}${stop} ${fix.trimEnd()}`;
}

function make(code: ErrorCode, problem: string, fix: string | undefined, extra: ErrorExtra | undefined): AtrestError {
  return new AtrestError(code, sentence(problem, fix), extra);
}

/** The holder of a migration lock, as `ATREST_LOCKED` names it. */
export type LockHolder = {
  readonly command: string;
  readonly pid: number;
  readonly host: string;
  readonly since: string;
};

/**
 * One factory per code. Most take `problem` (what is wrong, with the key, file or value at fault)
 * and `fix` (what to do); codes with fixed facts take those facts and word the message themselves.
 */
export const errors = {
  /** A configuration value is malformed, missing, or contradicts another. */
  configInvalid: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_CONFIG_INVALID', problem, fix, extra),
  /** An unknown key in a section atrest owns, or a near miss of one of atrest's keys. */
  configUnknownKey: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_CONFIG_UNKNOWN_KEY', problem, fix, extra),
  /** A configuration file named explicitly cannot be read. */
  configFile: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_CONFIG_FILE', problem, fix, extra),
  /** A command, option, argument or API call was used wrongly. */
  usage: (problem: string, fix?: string, extra?: ErrorExtra) => make('ATREST_USAGE', problem, fix, extra),
  /** An API call got an argument of the wrong type, an unknown option, or a value over the size limit. */
  invalidArgument: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_INVALID_ARGUMENT', problem, fix, extra),
  /** Data needs a provider that is not configured. */
  providerUnknown: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_UNKNOWN', problem, fix, extra),
  /** A provider `module` is not an npm package name. */
  providerNameInvalid: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_NAME_INVALID', problem, fix, extra),
  /** A provider's package is not installed where the application resolves packages. */
  providerNotInstalled: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_NOT_INSTALLED', problem, fix, extra),
  /** A package is not a valid provider, or its schema is faulty. */
  providerInvalid: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_INVALID', problem, fix, extra),
  /** A provider was written for another provider API version. */
  providerApiVersion: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_API_VERSION', problem, fix, extra),
  /** The key service refused the credentials or the permission. */
  providerAuth: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_PROVIDER_AUTH', problem, fix, extra),
  /** The key service did not answer usefully after bounded retries. */
  providerUnavailable: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_UNAVAILABLE', problem, fix, extra),
  /** A provider failed in a way it did not classify. */
  providerFailed: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PROVIDER_FAILED', problem, fix, extra),
  /** A provider broke the provider contract. */
  providerContract: (provider: string, broke: string, extra?: ErrorExtra) =>
    make(
      'ATREST_PROVIDER_CONTRACT',
      `Provider ${provider} broke the provider contract: ${broke}.`,
      "Report it to the provider's authors.",
      { ...extra, details: { provider, ...extra?.details } },
    ),
  /** A TLS peer could not be verified, or a certificate or key file is unusable. */
  tls: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_TLS', problem, fix, extra),
  /** A key that existing data needs is missing. */
  keyMissing: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_KEY_MISSING', problem, fix, extra),
  /** The configured key is not the one the data was encrypted with. */
  keyMismatch: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_KEY_MISMATCH', problem, fix, extra),
  /** A key file's (or its directory's) permissions are unsafe, or it is not readable by this user. */
  keyFilePermissions: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_KEY_FILE_PERMISSIONS', problem, fix, extra),
  /** A key file is damaged or not an atrest key file. */
  keyFileInvalid: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_KEY_FILE_INVALID', problem, fix, extra),
  /** A key file (or its temporary copy) could not be written: disk full, file size limit, read-only place. */
  keyFileWrite: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_KEY_FILE_WRITE', problem, fix, extra),
  /** A data key does not unwrap with the configured key. */
  wrongKey: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_WRONG_KEY', problem, fix, extra),
  /** A value does not authenticate: changed, or read with another context. */
  decryptFailed: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_DECRYPT_FAILED', problem, fix, extra),
  /** The bytes are not atrest ciphertext, or use a format version this atrest does not know. */
  formatInvalid: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_FORMAT_INVALID', problem, fix, extra),
  /** A value is plaintext where ciphertext is required. */
  notEncrypted: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_NOT_ENCRYPTED', problem, fix, extra),
  plaintextSealed: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_PLAINTEXT_SEALED', problem, fix, extra),
  /** A value of a row-bound target (`table.column@key`) has no row key to bind it to: none given, or NULL. */
  rowKeyMissing: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_ROW_KEY_MISSING', problem, fix, extra),
  /** A value names a data key that is not in this database. */
  dataKeyNotFound: (dataKeyId: string, extra?: ErrorExtra) =>
    make(
      'ATREST_DATA_KEY_NOT_FOUND',
      `The value was encrypted with data key ${dataKeyId}, which is not in this database's atrest_data_keys ` +
        'table: the value was changed, or it comes from another database.',
      'Restore the value, or the database it comes from.',
      { ...extra, details: { dataKeyId, ...extra?.details } },
    ),
  /** No secret of that name. */
  secretNotFound: (name: string, extra?: ErrorExtra) =>
    make('ATREST_SECRET_NOT_FOUND', `No secret named ${JSON.stringify(name)}.`, "See 'atrest secrets list'.", {
      ...extra,
      details: { name, ...extra?.details },
    }),
  /** The database could not be opened, read or written. */
  store: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_STORE', problem, fix, extra),
  /**
   * A command that creates nothing (status, secrets get…) found no atrest database: the database
   * file, atrest's tables or the first-boot key do not exist yet.
   */
  notInitialized: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_NOT_INITIALIZED', problem, fix, extra),
  /** The configured database needs a store package that is not installed (or does not load). */
  storeNotInstalled: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_STORE_NOT_INSTALLED', problem, fix, extra),
  /** The database was used by a newer atrest. */
  schemaTooNew: (found: number, known: number, extra?: ErrorExtra) =>
    make(
      'ATREST_SCHEMA_TOO_NEW',
      `The database holds atrest schema version ${found}, newer than this atrest knows (${known}).`,
      'Upgrade atrest; never run an older version on this database.',
      { ...extra, details: { found, known, ...extra?.details } },
    ),
  /** Another migration holds the lock of `database` (the store's location: a file, or a URL without password). */
  locked: (holder: LockHolder, database: string, extra?: ErrorExtra) =>
    make(
      'ATREST_LOCKED',
      `Another migration is running on the database ${database}: '${holder.command}' ` +
        `(pid ${holder.pid} on ${holder.host}, since ${holder.since}).`,
      'Wait for it to finish; the lock of a process that died is released by itself.',
      {
        ...extra,
        details: {
          pid: holder.pid,
          host: holder.host,
          command: holder.command,
          since: holder.since,
          database,
          ...extra?.details,
        },
      },
    ),
  /** The migration lock's row (who holds the lock) is not what atrest writes: not JSON, or another shape. */
  lockDamaged: (table: string, key: string, what: string, extra?: ErrorExtra) =>
    make(
      'ATREST_LOCK_DAMAGED',
      `The migration lock row of ${table} (key '${key}') is damaged: ${what}. ` +
        'No migration can tell who holds the lock.',
      "Run 'atrest secrets-migration unlock': it clears the row (and refuses while a live process holds the lock).",
      { ...extra, details: { table, key, ...extra?.details } },
    ),
  /** The instance was closed. */
  closed: (what = 'This atrest instance') => make('ATREST_CLOSED', `${what} is closed.`, 'Open a new one.', undefined),
  /** A row kept changing while a migration rewrote it. */
  conflict: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_CONFLICT', problem, fix, extra),
  /** A key that data still needs was asked to be removed. */
  keyInUse: (problem: string, fix: string, extra?: ErrorExtra) => make('ATREST_KEY_IN_USE', problem, fix, extra),
  /** A migration finished with failures, or refused to start because it could not succeed. */
  migrationFailed: (problem: string, fix: string, extra?: ErrorExtra) =>
    make('ATREST_MIGRATION_FAILED', problem, fix, extra),
  /** A bug in atrest: a state that its own code should never reach. */
  internal: (what: string, extra?: ErrorExtra) =>
    make(
      'ATREST_INTERNAL',
      `Internal error: ${what}.`,
      'This is a bug in atrest; please report it with this message.',
      extra,
    ),
} as const;
