// How a failed run is reported: every error as an atrest error of the catalogue (anything else is
// a bug, ATREST_INTERNAL), printed as `error CODE: message` or, with --json, one JSON object.
import { errorCodes, errors, isAtrestError } from '@atrest/core';
import type { AtrestError } from '@atrest/core';
import { databaseBusy, isDatabaseBusy } from './database-lock.js';

/** `err` as the atrest error the operator is told about. `database`: the file the command used, when known. */
export function asAtrestError(err: unknown, database: string | undefined): AtrestError {
  // Before the catalogue's own codes: the store's busy message is written for embedding code.
  if (isDatabaseBusy(err)) return databaseBusy(database, err);
  if (isAtrestError(err)) return err;
  const what = err instanceof Error ? `${err.name}: ${err.message}` : `a thrown ${typeof err}: ${String(err)}`;
  return errors.internal(what, { cause: err });
}

/** The text of an error on stderr; an internal error keeps the stack of what was thrown, for the report. */
export function formatError(err: AtrestError, json: boolean): string {
  if (json) return JSON.stringify({ code: err.code, message: err.message, details: err.details });
  const stack = err.code === 'ATREST_INTERNAL' && err.cause instanceof Error ? `\n${err.cause.stack ?? ''}` : '';
  return `error ${err.code}: ${err.message}${stack}`;
}

/** The process exit code of an error, from the catalogue. */
export function exitCodeOf(err: AtrestError): number {
  return errorCodes[err.code];
}
