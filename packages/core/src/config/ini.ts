// Reading the host application's INI file into flat sections.
//
// `ini.decode` nests dotted section names ([security.encryption.awskms.main] becomes
// security → encryption → awskms → main), which loses the difference between a key of
// [security.encryption] and a provider section. So the file is cut at its section headers here, and
// each section's body is decoded by `ini` (quotes, `;`/`#` comments, escapes, `key[]` arrays).
import { decode } from 'ini';

/** Section name → key → value as written (after ini's unquoting). '' holds the keys before the first section. */
export type IniSections = ReadonlyMap<string, ReadonlyMap<string, string>>;

// A header alone on its line; a trailing comment is allowed, as in Grafana's files.
const SECTION_HEADER = /^\s*\[([^\]]*)\]\s*(?:[;#].*)?$/;

// Grafana (go-ini) writes values holding `#` or `;` in triple quotes: """#password;""".
const TRIPLE_QUOTED = /^"""([\s\S]*)"""$/;

function valueText(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const triple = TRIPLE_QUOTED.exec(value);
    return triple ? (triple[1] ?? '') : value;
  }
  // ini turns `true`, `false`, `null` and a bare key into JS values: read them back as written.
  if (typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    // `key[] = a` lines: a list, written back space separated.
    const items = value.map((item) => valueText(item)).filter((item): item is string => item !== undefined);
    return items.join(' ');
  }
  return undefined;
}

/** Splits an INI text into its sections; a section that appears twice is merged, the later key winning. */
export function parseIniSections(text: string): IniSections {
  const bodies = new Map<string, string[]>([['', []]]);
  let current: string[] = bodies.get('') ?? [];
  for (const line of text.split(/\r?\n|\r/)) {
    const header = SECTION_HEADER.exec(line);
    if (header) {
      const name = (header[1] ?? '').trim();
      let body = bodies.get(name);
      if (body === undefined) {
        body = [];
        bodies.set(name, body);
      }
      current = body;
      continue;
    }
    current.push(line);
  }
  const sections = new Map<string, ReadonlyMap<string, string>>();
  for (const [name, lines] of bodies) {
    const decoded: Record<string, unknown> = decode(lines.join('\n'));
    const values = new Map<string, string>();
    for (const [key, value] of Object.entries(decoded)) {
      const text = valueText(value);
      if (text !== undefined) values.set(key, text);
    }
    sections.set(name, values);
  }
  return sections;
}
