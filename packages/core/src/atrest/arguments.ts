// What embedding code passes to the API, checked at the door: a wrong JavaScript type, an unknown
// option or a value over the size limit is ATREST_INVALID_ARGUMENT naming the call and the argument,
// never a TypeError from deep inside (and never half done: nothing is read or written before).
import { didYouMean, meantHint } from '../config/suggest.js';
import { errors } from '../errors.js';
import type { MigrationsApi, ReEncryptOptions, RotateEncryptionKeyOptions } from '../migration/types.js';

/** The largest value atrest encrypts or stores (a plaintext, in bytes; strings count their UTF-8 bytes): 64 MiB. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** The largest ciphertext atrest reads: the largest value with its envelope around it, armored. */
const MAX_CIPHERTEXT_CHARS = Math.ceil(((MAX_VALUE_BYTES + 1024) * 4) / 3) + 64;

/** What an option may hold. */
export type Kind = 'string' | 'boolean' | 'function' | 'bytes' | 'row' | 'count' | 'strings' | 'any';

const KIND_TEXT: Readonly<Record<Kind, string>> = {
  string: 'a string',
  boolean: 'true or false',
  function: 'a function',
  bytes: 'a string or a Uint8Array',
  row: 'a string or an integer',
  count: 'a whole number of at least 1',
  strings: 'an array of strings',
  any: 'anything',
};

/** A value's type as a message names it. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'a Uint8Array';
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? `an object (${Object.prototype.toString.call(value)})` : `a ${typeof value}`;
}

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'function':
      return typeof value === 'function';
    case 'bytes':
      return typeof value === 'string' || value instanceof Uint8Array;
    case 'row':
      return typeof value === 'string' || typeof value === 'bigint' || Number.isSafeInteger(value);
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 1;
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'any':
      return true;
  }
}

/** `options` of `call`: undefined, or a plain object whose every key is one of `kinds` with a value of its kind. */
export function checkOptions<T>(call: string, options: unknown, kinds: Readonly<Record<string, Kind>>): T | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options) || options instanceof Uint8Array) {
    throw errors.invalidArgument(
      `${call}: the options must be an object (got ${describe(options)}).`,
      'Pass an object such as { context: "…" }, or nothing.',
      { details: { call, argument: 'options' } },
    );
  }
  for (const [key, value] of Object.entries(options)) {
    const kind = kinds[key];
    if (kind === undefined) {
      throw errors.invalidArgument(
        `${call}: unknown option ${key}${meantHint(didYouMean(key, Object.keys(kinds)))}`,
        `The options are ${Object.keys(kinds).join(', ')}.`,
        { details: { call, argument: key } },
      );
    }
    if (value !== undefined && !fits(kind, value)) {
      throw errors.invalidArgument(
        `${call}: option ${key} must be ${KIND_TEXT[kind]} (got ${describe(value)}).`,
        'Fix the value, or leave the option out.',
        { details: { call, argument: key } },
      );
    }
  }
  return options as T;
}

/** A value to encrypt or store: a string or bytes of at most MAX_VALUE_BYTES (counted before any copy). */
export function checkValue(call: string, argument: string, value: unknown): string | Uint8Array {
  if (!fits('bytes', value)) {
    throw errors.invalidArgument(
      `${call}: ${argument} must be a string or a Uint8Array (got ${describe(value)}).`,
      'Convert it first (for example String(x) or Buffer.from(x)).',
      { details: { call, argument } },
    );
  }
  const v = value as string | Uint8Array;
  // A string's UTF-8 length is at least its length: a huge string is refused without encoding it.
  const size = typeof v === 'string' ? (v.length > MAX_VALUE_BYTES ? v.length : Buffer.byteLength(v)) : v.byteLength;
  if (size > MAX_VALUE_BYTES) {
    throw errors.invalidArgument(
      `${call}: ${argument} is ${size} bytes, over atrest's limit of ${MAX_VALUE_BYTES} bytes (64 MiB).`,
      'Store a large file elsewhere and keep its key or path as the secret.',
      { details: { call, argument, size, limit: MAX_VALUE_BYTES } },
    );
  }
  return v;
}

/** A ciphertext to decrypt: a string (armored) or bytes, no longer than the largest value's ciphertext. */
export function checkCiphertext(call: string, value: unknown, text: boolean): string | Uint8Array {
  if (text ? typeof value !== 'string' : !fits('bytes', value)) {
    throw errors.invalidArgument(
      `${call}: the ciphertext must be ${text ? 'a string' : 'a string or a Uint8Array'} (got ${describe(value)}).`,
      'Pass the value as encrypt or encryptText returned it.',
      { details: { call, argument: 'ciphertext' } },
    );
  }
  const v = value as string | Uint8Array;
  const size = typeof v === 'string' ? v.length : v.byteLength;
  if (size > MAX_CIPHERTEXT_CHARS) {
    throw errors.invalidArgument(
      `${call}: the ciphertext is ${size} ${typeof v === 'string' ? 'characters' : 'bytes'} long, more than ` +
        `the ciphertext of the largest value atrest stores (${MAX_VALUE_BYTES} bytes).`,
      'It is not an atrest value.',
      { details: { call, argument: 'ciphertext', size } },
    );
  }
  return v;
}

/** The options of encrypt and encryptText. */
export const CRYPT_OPTIONS = {
  context: 'bytes',
  scope: 'string',
  target: 'string',
  field: 'string',
  row: 'row',
} as const;
/** The options of decrypt and decryptText. */
export const DECRYPT_OPTIONS = { ...CRYPT_OPTIONS, allowPlaintext: 'boolean' } as const;
/** The options of migrations.reEncrypt and disableEncryption. */
export const REENCRYPT_OPTIONS = {
  dryRun: 'boolean',
  batchSize: 'count',
  workers: 'count',
  targets: 'strings',
  onProgress: 'function',
  onCleanup: 'function',
  vacuum: 'boolean',
  onVacuum: 'function',
} as const;
/** The options of migrations.rotateEncryptionKey. */
export const ROTATE_OPTIONS = {
  newSecret: 'string',
  full: 'boolean',
  prune: 'boolean',
  onProgress: 'function',
} as const;

/** `migrations` with its options checked before anything runs (or takes the migration lock). */
export function checkedMigrations(migrations: MigrationsApi): MigrationsApi {
  return {
    get keyRotation() {
      return migrations.keyRotation;
    },
    reEncrypt: async (options) =>
      migrations.reEncrypt(checkOptions<ReEncryptOptions>('migrations.reEncrypt', options, REENCRYPT_OPTIONS)),
    cleanupDataKeys: async () => migrations.cleanupDataKeys(),
    reEncryptDataKeys: async () => migrations.reEncryptDataKeys(),
    rotateDataKeys: async () => migrations.rotateDataKeys(),
    rotateEncryptionKey: async (options) =>
      migrations.rotateEncryptionKey(
        checkOptions<RotateEncryptionKeyOptions>('migrations.rotateEncryptionKey', options, ROTATE_OPTIONS),
      ),
    disableEncryption: async (options) =>
      migrations.disableEncryption(
        checkOptions<ReEncryptOptions>('migrations.disableEncryption', options, REENCRYPT_OPTIONS),
      ),
    pruneKeys: async () => migrations.pruneKeys(),
    unlock: async () => migrations.unlock(),
  };
}

/** Each value of a record option (`env`, `options`) must be a string (`env`: or undefined). */
function checkRecord(call: string, key: string, record: unknown, allowUndefined: boolean): void {
  if (record === undefined) return;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw errors.invalidArgument(
      `${call}: option ${key} must be an object of strings (got ${describe(record)}).`,
      'Fix the value, or leave the option out.',
      { details: { call, argument: key } },
    );
  }
  for (const [name, value] of Object.entries(record)) {
    if (typeof value === 'string' || (allowUndefined && value === undefined)) continue;
    throw errors.invalidArgument(
      `${call}: ${key}.${name} must be a string (got ${describe(value)}).`,
      'Every value of the configuration is text, as in an INI file or the environment: use String(x).',
      { details: { call, argument: `${key}.${name}` } },
    );
  }
}

/** The options of openAtrest and loadAtrestConfig. */
export function checkOpenOptions(call: string, options: unknown): void {
  const kinds = {
    app: 'string',
    configFile: 'string',
    envFile: 'string',
    env: 'object',
    options: 'object',
    database: 'object',
    appRoot: 'string',
    logger: 'object',
    create: 'boolean',
    onAudit: 'function',
    actor: 'string',
  } as const;
  const given = checkOptions<Record<string, unknown>>(
    call,
    options,
    Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, v === 'object' ? 'any' : v])) as Record<string, Kind>,
  );
  if (given === undefined) return;
  checkRecord(call, 'env', given.env, true);
  checkRecord(call, 'options', given.options, false);
  const { database, logger } = given;
  const handle = (v: object, method: string) => typeof (v as Record<string, unknown>)[method] === 'function';
  if (database !== undefined && typeof database !== 'string') {
    if (
      typeof database !== 'object' ||
      database === null ||
      !(handle(database, 'prepare') || handle(database, 'query'))
    ) {
      throw errors.invalidArgument(
        `${call}: option database must be a SQLite path, a database URL, a better-sqlite3 Database or a pg.Pool ` +
          `(got ${describe(database)}).`,
        'Fix the value, or leave it out to use [database].',
        { details: { call, argument: 'database' } },
      );
    }
  }
  if (logger !== undefined) {
    const levels = ['debug', 'info', 'warn', 'error'];
    if (typeof logger !== 'object' || logger === null || !levels.every((l) => handle(logger, l))) {
      throw errors.invalidArgument(
        `${call}: option logger must have the methods ${levels.join(', ')} (got ${describe(logger)}).`,
        'Pass your application logger (pino, winston and console fit), or leave it out.',
        { details: { call, argument: 'logger' } },
      );
    }
  }
}
