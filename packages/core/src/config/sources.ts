// Reading values out of their sources: the INI and .env files, files named by `<NAME>__FILE` and
// `$__file{…}`, `$__env{…}` references, and the environment variable names of INI keys.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FileRefused, readBoundedFile } from '../bounded-file.js';
import { errors } from '../errors.js';
import { describeSetting, originDetails } from './origin.js';
import type { ConfigOrigin } from './types.js';

/** The largest file a value is read from (`$__file{}`, `<NAME>__FILE`): 1 MiB. */
export const MAX_VALUE_FILE_BYTES = 1024 * 1024;

/** Why a file could not be read, as the end of a sentence naming it. */
function unreadable(cause: unknown): string {
  if (cause instanceof FileRefused) {
    return cause.reason === 'not-regular'
      ? `${cause.message} (a value is read from a regular file only)`
      : `is larger than ${MAX_VALUE_FILE_BYTES} bytes, the limit of a value file`;
  }
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable by this user';
  if (code === 'EISDIR') return 'is a directory';
  return `cannot be read (${code ?? 'error'})`;
}

/** The text of the INI or .env file named by `flag`. */
export async function readConfigFile(path: string, what: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw errors.configFile(`The ${what} ${path} ${unreadable(cause)}:`, `fix ${flag} or create the file.`, {
      cause,
      details: { path },
    });
  }
}

/** A file's contents as a value: one trailing newline (as editors and `echo` add) is not part of it. */
export async function readValueFile(
  path: string,
  purpose: string,
  details: Record<string, string | undefined>,
): Promise<string> {
  let text: string;
  try {
    text = readBoundedFile(resolve(path), MAX_VALUE_FILE_BYTES).toString('utf8');
  } catch (cause) {
    const fix =
      cause instanceof FileRefused
        ? 'point it at a regular file holding the value.'
        : 'create it or fix the reference.';
    throw errors.configFile(`File ${path}, ${purpose}, ${unreadable(cause)}:`, fix, {
      cause,
      details: { ...details, path },
    });
  }
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

const REFERENCE = /\$__(env|file)\{([^}]*)\}/g;

/** Looks up an environment variable for `$__env{…}`. */
export type EnvLookup = (name: string) => string | undefined;

/**
 * Replaces every `$__env{NAME}` and `$__file{/path}` in a value. What they bring in is taken as is
 * (not expanded again). A reference to a missing variable or file is an error naming the key.
 */
export async function expandReferences(
  text: string,
  key: string,
  origin: ConfigOrigin,
  lookupEnv: EnvLookup,
): Promise<{ value: string; references: string[] }> {
  const references: string[] = [];
  const parts: string[] = [];
  let last = 0;
  for (const match of text.matchAll(REFERENCE)) {
    const [whole, kind, target = ''] = match;
    references.push(whole);
    parts.push(text.slice(last, match.index));
    last = match.index + whole.length;
    const where = describeSetting(key, origin);
    const details = { key, ...originDetails(origin), reference: whole };
    if (target.trim() === '') {
      const example = kind === 'env' ? '$__env{VARIABLE}' : '$__file{/path/to/file}';
      throw errors.configInvalid(`${whole} in ${where} names nothing:`, `write ${example}.`, { details });
    }
    if (kind === 'env') {
      const value = lookupEnv(target.trim());
      if (value === undefined) {
        throw errors.configInvalid(
          `${where} refers to environment variable ${target.trim()} ($__env), which is not set:`,
          `set it or change ${key}.`,
          { details },
        );
      }
      parts.push(value);
    } else {
      parts.push(await readValueFile(target.trim(), `referenced by ${whole} in ${where}`, details));
    }
  }
  if (references.length === 0) return { value: text, references };
  parts.push(text.slice(last));
  return { value: parts.join(''), references };
}

/** A name as it appears inside an environment variable: upper case, '-' and '.' written as '_'. */
export function envSegment(name: string): string {
  return name.toUpperCase().replace(/[-.]/g, '_');
}

/** The environment variable of a provider section key: `<APP>_SECURITY_ENCRYPTION_<TYPE>_<NAME>_<KEY>`. */
export function providerEnvName(envPrefix: string, type: string, name: string, key: string): string {
  return `${envPrefix}SECURITY_ENCRYPTION_${envSegment(type)}_${envSegment(name)}_${envSegment(key)}`;
}

/** How section names compare: case-insensitive, with '-' and '_' the same. */
export function normalizeProviderName(name: string): string {
  return name.toLowerCase().replace(/-/g, '_');
}
