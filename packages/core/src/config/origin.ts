// Telling people where a value came from, and the text of `config show` (its values come redacted).
import type { ConfigEntry, ConfigOrigin } from './types.js';

/** An origin as a short phrase: "ini /etc/app/app.ini [security]", "env ATREST_X", ".env /app/.env ATREST_X". */
export function formatConfigOrigin(origin: ConfigOrigin): string {
  let text: string;
  switch (origin.source) {
    case 'default':
      text = 'default';
      break;
    case 'ini':
      text = `ini ${origin.file ?? '?'} ${origin.section ? `[${origin.section}]` : '(before any section)'}`;
      break;
    case 'dotenv':
      text = `.env ${origin.file ?? '?'}${origin.variable === undefined ? '' : ` ${origin.variable}`}`;
      break;
    case 'env':
      text = `env ${origin.variable ?? '?'}`;
      break;
    case 'option':
      text = 'option';
      break;
  }
  if (origin.valueFile !== undefined) text += ` (file ${origin.valueFile})`;
  if (origin.references !== undefined && origin.references.length > 0) text += ` via ${origin.references.join(', ')}`;
  return text;
}

function fileNote(origin: ConfigOrigin): string {
  return origin.valueFile === undefined ? '' : ` (file ${origin.valueFile})`;
}

/** Where a key was written, for messages: the INI key with its section, the variable, or the option key. */
export function describeSetting(key: string, origin: ConfigOrigin): string {
  switch (origin.source) {
    case 'ini':
      return `${origin.key ?? key} in [${origin.section ?? ''}] of ${origin.file ?? 'the INI file'}`;
    case 'dotenv':
      return `${origin.variable ?? key} in ${origin.file ?? 'the .env file'}${fileNote(origin)}`;
    case 'env':
      return `environment variable ${origin.variable ?? key}${fileNote(origin)}`;
    case 'option':
      return `option ${origin.key ?? key}`;
    case 'default':
      return `${key} (default)`;
  }
}

/** The facts of an origin as error details. */
export function originDetails(origin: ConfigOrigin): Record<string, string | undefined> {
  return {
    source: origin.source,
    file: origin.file,
    section: origin.section,
    variable: origin.variable,
    valueFile: origin.valueFile,
  };
}

const NOT_SET = '(not set)';

function valueText(entry: ConfigEntry): string {
  const { value } = entry;
  const empty = value === '' || (Array.isArray(value) && value.length === 0);
  if (empty) return NOT_SET;
  if (Array.isArray(value)) return value.join(' ');
  const text = String(value);
  return /[\s"'\\]/.test(text) ? JSON.stringify(text) : text;
}

/** The text `atrest config show` prints: one line per key, with its value (as loadConfig redacted it) and origin. */
export function formatConfigEntries(entries: readonly ConfigEntry[]): string {
  const rows = entries.map((entry) => [entry.key, valueText(entry), formatConfigOrigin(entry.origin)] as const);
  const keyWidth = Math.max(0, ...rows.map(([key]) => key.length));
  // As wide as the longest value: a long path or URL must not push its origin out of the column.
  const valueWidth = Math.max(0, ...rows.map(([, value]) => value.length));
  return (
    rows
      .map(([key, value, origin]) => `${key.padEnd(keyWidth)}  ${value.padEnd(valueWidth)}  ${origin}`.trimEnd())
      .join('\n') + (rows.length > 0 ? '\n' : '')
  );
}
