// What a failed query becomes: a catalogue error that names what atrest tried to do and the
// database (its URL, password redacted). A connection that went away is told apart from a
// statement the server refused: the first heals by itself at the next call, the second does not.
import { type AtrestError, errors, isAtrestError } from '@atrest/core';

// Codes of a server that is going away or not there yet (admin_shutdown, crash_shutdown, cannot_connect_now).
const serverGoingAway = new Set(['57P01', '57P02', '57P03']);
const connectionLost = /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|timeout exceeded when trying to connect/i;

/** The error for `err`, thrown while atrest tried to `what` the database shown as `shown`. */
export function storeFailure(err: unknown, what: string, shown: string): AtrestError {
  if (isAtrestError(err)) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const details = { database: shown, ...(typeof code === 'string' ? { sqlstate: code } : {}) };
  if ((typeof code === 'string' && serverGoingAway.has(code)) || connectionLost.test(`${message} ${String(code)}`)) {
    return errors.store(
      `atrest could not ${what} the PostgreSQL database ${shown}: the connection was lost (${message}).`,
      'Nothing was half-written; atrest reconnects at its next call. If it lasts, check the server.',
      { cause: err, details },
    );
  }
  return errors.store(
    `atrest could not ${what} the PostgreSQL database ${shown}: ${message}` +
      (typeof code === 'string' ? ` (SQLSTATE ${code}).` : '.'),
    "Check the server's log, and that the user may create and write atrest's tables.",
    { cause: err, details },
  );
}
