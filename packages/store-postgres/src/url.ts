// Connection URLs: libpq's `postgres://` / `postgresql://` (with its query parameters sslmode,
// sslrootcert, sslcert, sslkey) and Metabase's JDBC form `jdbc:postgresql://host:port/db?user=…`,
// read into the parts they name, and written back (password redacted) to be shown.
import { errors, redactUrl } from '@atrest/core';

/** libpq's sslmode values that atrest implements. */
export const sslModes = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

/** What a URL names; a part it leaves out is undefined. */
export type UrlParts = {
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
  readonly password?: string;
  readonly sslMode?: string;
  readonly sslRootCert?: string;
  readonly sslCert?: string;
  readonly sslKey?: string;
};

// Query parameters and the part each sets; the JDBC form also has `ssl` (below).
const parameters = {
  user: 'user',
  password: 'password',
  sslmode: 'sslMode',
  sslrootcert: 'sslRootCert',
  sslcert: 'sslCert',
  sslkey: 'sslKey',
} as const satisfies Record<string, keyof UrlParts>;

/** Read a PostgreSQL URL; `where` names it in errors (for example `[database] url`). */
export function parsePostgresUrl(text: string, where: string): UrlParts {
  const shown = redactUrl(text);
  const jdbc = /^jdbc:postgresql:/i.test(text);
  const rest = jdbc ? text.slice('jdbc:'.length) : text;
  if (!/^postgres(ql)?:\/\//i.test(rest)) {
    throw errors.configInvalid(
      `${where} ${JSON.stringify(shown)} is not a PostgreSQL URL.`,
      'Write postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=/path/ca.pem ' +
        '(postgresql:// and jdbc:postgresql://host:port/database?user=…&password=… work too).',
    );
  }
  const authority = rest.slice(rest.indexOf('//') + 2).split(/[/?#]/)[0] ?? '';
  if (authority.includes(',')) {
    throw errors.configInvalid(
      `${where} ${JSON.stringify(shown)} names several hosts; atrest connects to one.`,
      'Give the one host (for several nodes, point them all at the primary or its virtual address).',
    );
  }
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    // No cause: the URL parser's error holds the input, password included.
    throw errors.configInvalid(
      `${where} ${JSON.stringify(shown)} is not a valid URL.`,
      'Check its host, port (1-65535) and percent-encoding (a password with @, : or / must be written %40, %3A, %2F).',
    );
  }
  const path = decode(url.pathname.replace(/^\//, ''), where, shown);
  if (path.includes('/')) {
    throw errors.configInvalid(
      `${where} ${JSON.stringify(shown)} has a path ${JSON.stringify(`/${path}`)}; ` +
        'only a database name may follow the host.',
      'Write …@host:port/database.',
    );
  }
  const parts: { -readonly [K in keyof UrlParts]: UrlParts[K] } = {};
  if (url.hostname !== '') parts.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.port !== '') parts.port = Number(url.port);
  if (path !== '') parts.database = path;
  if (url.username !== '') parts.user = decode(url.username, where, shown);
  if (url.password !== '') parts.password = decode(url.password, where, shown);
  let jdbcSsl = false;
  for (const [name, value] of url.searchParams) {
    if (jdbc && name === 'ssl') {
      jdbcSsl = value === 'true';
    } else if (Object.hasOwn(parameters, name)) {
      parts[parameters[name as keyof typeof parameters]] = value;
    } else {
      throw errors.configInvalid(
        `${where} has the query parameter ${JSON.stringify(name)}, which atrest does not implement.`,
        `Use only ${[...Object.keys(parameters), ...(jdbc ? ['ssl'] : [])].join(', ')}` +
          (name === 'ssl' ? ' (for TLS write sslmode=verify-full, as libpq has no ssl parameter).' : '.'),
      );
    }
  }
  // pgjdbc: ssl=true without an sslmode means verify-full.
  if (jdbcSsl && parts.sslMode === undefined) parts.sslMode = 'verify-full';
  return parts;
}

function decode(text: string, where: string, shown: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw errors.configInvalid(
      `${where} ${JSON.stringify(shown)} has a malformed percent-encoding.`,
      'Write a literal % as %25.',
    );
  }
}

/** Write the URL of a connection, password redacted, parameters in libpq's words. */
export function formatPostgresUrl(parts: {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  readonly query: Readonly<Record<string, string | undefined>>;
}): string {
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host;
  const secret = parts.password === undefined ? '' : ':***';
  const query = Object.entries(parts.query)
    .flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${encodeURIComponent(v).replaceAll('%2F', '/')}`]))
    .join('&');
  const user = encodeURIComponent(parts.user);
  const database = encodeURIComponent(parts.database);
  return `postgres://${user}${secret}@${host}:${parts.port}/${database}${query === '' ? '' : `?${query}`}`;
}
