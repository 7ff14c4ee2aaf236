// How the migrations report what failed: a code from the catalogue (or ERROR for anything else)
// and the message, per row or per data key; the command goes on with the rest.
import { isAtrestError } from '../errors.js';
import type { DataKeyRecord } from '../store/types.js';
import type { DataKeysReport } from './types.js';

/** The code a failure is reported with. */
export function codeOf(err: unknown): string {
  return isAtrestError(err) ? err.code : 'ERROR';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A data key that could not be unwrapped or re-wrapped, as the report lists it. */
export function failedDataKey(
  row: Pick<DataKeyRecord, 'id' | 'provider'>,
  err: unknown,
): DataKeysReport['failed'][number] {
  return { id: row.id, provider: row.provider, code: codeOf(err), message: messageOf(err) };
}
