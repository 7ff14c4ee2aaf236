// A JSON object read back from a store row (the migration lock's holder), checked field by field:
// the stores' lock rows share it, so a damaged row is told the same way on SQLite and PostgreSQL.

/** `value` parsed as an object whose `fields` have the given types, or what is wrong with it. */
export function parseJsonRecord<T>(value: string, fields: Readonly<Record<string, 'string' | 'number'>>): T | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return 'it is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'it is not a JSON object';
  const row = parsed as Record<string, unknown>;
  for (const [name, type] of Object.entries(fields)) {
    if (typeof row[name] !== type || (type === 'number' && !Number.isFinite(row[name])))
      return `its field '${name}' is not a ${type}`;
  }
  return parsed as T;
}
