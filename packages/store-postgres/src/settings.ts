// The connection settings, from Grafana's `[database]` keys and, when given, its `url` (libpq's or
// Metabase's JDBC form): what `url` names wins over the separate keys, as in Grafana. Everything is
// checked here, before any connection, with errors that name the key at fault.
import { errors } from '@atrest/core';
import { formatPostgresUrl, parsePostgresUrl, type SslMode, sslModes, type UrlParts } from './url.js';

/** The `[database]` keys atrest reads for PostgreSQL, named as Grafana names them. */
export type PostgresDatabaseKeys = {
  /** `postgres` (when set). */
  readonly type?: string | undefined;
  /** `host` or `host:port` (`[::1]:5432` for IPv6); default `localhost:5432`. */
  readonly host?: string | undefined;
  /** The database; default: the user's name, as in libpq. */
  readonly name?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** `postgres://…`, `postgresql://…` or `jdbc:postgresql://…`; wins over the keys above. */
  readonly url?: string | undefined;
  /** libpq's sslmode: `disable` (default, as in Grafana), `require`, `verify-ca`, `verify-full`. */
  readonly ssl_mode?: string | undefined;
  /** The CA file that verifies the server (libpq's sslrootcert; `system` for the system's CAs). */
  readonly ca_cert_path?: string | undefined;
  /** Client certificate file for mutual TLS (libpq's sslcert). */
  readonly client_cert_path?: string | undefined;
  /** Client key file (libpq's sslkey): 0600, or 0640 if owned by root, as libpq requires. */
  readonly client_key_path?: string | undefined;
  /** The name the server's certificate must hold under verify-full, when not the host name. */
  readonly server_cert_name?: string | undefined;
};

/** Where and how atrest connects. */
export type PostgresSettings = {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  readonly sslMode: SslMode;
  /** A CA file, or `system` for the system's trusted CAs. */
  readonly sslRootCert: string | undefined;
  readonly sslCert: string | undefined;
  readonly sslKey: string | undefined;
  readonly serverCertName: string | undefined;
  /** The connection as a URL to show: password redacted; host, port, database, user and TLS files visible. */
  readonly shown: string;
};

/** Read and check the connection settings of `[database]`. */
export function postgresSettings(keys: PostgresDatabaseKeys): PostgresSettings {
  if (keys.type !== undefined && keys.type !== 'postgres') {
    throw errors.configInvalid(
      `[database] type is ${JSON.stringify(keys.type)}, but these are PostgreSQL settings.`,
      'Set [database] type = postgres.',
    );
  }
  const url: UrlParts = keys.url === undefined || keys.url === '' ? {} : parsePostgresUrl(keys.url, '[database] url');
  const fromKeys: { host?: string; port?: number } =
    keys.host === undefined || keys.host === '' ? {} : parseHost(keys.host);
  const from = (urlPart: keyof UrlParts, key: keyof PostgresDatabaseKeys) =>
    url[urlPart] === undefined ? `[database] ${key}` : `the ${urlParameterName[urlPart]} of [database] url`;

  const user = nonEmpty(url.user ?? keys.user);
  if (user === undefined) {
    throw errors.configInvalid(
      'No PostgreSQL user: [database] user is not set.',
      'Set [database] user, or name it in url.',
    );
  }
  const host = url.host ?? fromKeys.host ?? 'localhost';
  const sslRootCert = nonEmpty(url.sslRootCert ?? keys.ca_cert_path);
  const givenMode = nonEmpty(url.sslMode ?? keys.ssl_mode);
  // libpq: sslrootcert=system makes verify-full the default, and allows nothing weaker.
  const sslMode = checkSslMode(
    givenMode ?? (sslRootCert === 'system' ? 'verify-full' : 'disable'),
    from('sslMode', 'ssl_mode'),
  );
  if (sslRootCert === 'system' && sslMode !== 'verify-full') {
    throw errors.configInvalid(
      `${from('sslRootCert', 'ca_cert_path')} is "system" with sslmode ${sslMode}: ` +
        "the system's CAs are for verify-full only.",
      'Use sslmode verify-full (as libpq requires).',
    );
  }
  if ((sslMode === 'verify-ca' || sslMode === 'verify-full') && sslRootCert === undefined) {
    throw errors.configInvalid(
      `${from('sslMode', 'ssl_mode')} is ${sslMode} (for ${host}), which needs the CA that signed the server's ` +
        'certificate, and none is set.',
      'Set [database] ca_cert_path (or sslrootcert in url) to the CA file, or sslrootcert=system for the system CAs.',
    );
  }
  const sslCert = nonEmpty(url.sslCert ?? keys.client_cert_path);
  const sslKey = nonEmpty(url.sslKey ?? keys.client_key_path);
  if ((sslCert === undefined) !== (sslKey === undefined)) {
    throw errors.configInvalid(
      sslCert === undefined
        ? `${from('sslKey', 'client_key_path')} is set without a client certificate.`
        : `${from('sslCert', 'client_cert_path')} is set without the client key.`,
      'Set both [database] client_cert_path and client_key_path (sslcert and sslkey in url), or neither.',
    );
  }
  const port = url.port ?? fromKeys.port ?? 5432;
  const database = nonEmpty(url.database ?? keys.name) ?? user;
  const password = nonEmpty(url.password ?? keys.password);
  const serverCertName = nonEmpty(keys.server_cert_name);
  const tls = sslMode === 'disable' ? {} : { sslrootcert: sslRootCert, sslcert: sslCert, sslkey: sslKey };
  return {
    host,
    port,
    database,
    user,
    password,
    sslMode,
    sslRootCert,
    sslCert,
    sslKey,
    serverCertName,
    shown: formatPostgresUrl({ host, port, database, user, password, query: { sslmode: sslMode, ...tls } }),
  };
}

const urlParameterName: Record<keyof UrlParts, string> = {
  host: 'host',
  port: 'port',
  database: 'database',
  user: 'user',
  password: 'password',
  sslMode: 'sslmode',
  sslRootCert: 'sslrootcert',
  sslCert: 'sslcert',
  sslKey: 'sslkey',
};

function checkSslMode(value: string, where: string): SslMode {
  if ((sslModes as readonly string[]).includes(value)) return value as SslMode;
  const fallback = value === 'prefer' || value === 'allow';
  throw errors.configInvalid(
    `${where} is ${JSON.stringify(value)}, not one of ${sslModes.join(', ')}` +
      (fallback ? ` (${value} may fall back to an unencrypted connection, which atrest never does)` : '') +
      '.',
    'Use verify-full (recommended: encrypted, and the server proven by its certificate), ' +
      'verify-ca, require or disable.',
  );
}

/** Grafana's `host`: `name`, `name:port`, `1.2.3.4:port`, `[::1]:port` or a bare IPv6 address. */
function parseHost(text: string): { host: string; port?: number } {
  if (text.startsWith('/')) {
    throw errors.configInvalid(
      `[database] host ${JSON.stringify(text)} is a Unix socket directory, which atrest does not connect through.`,
      'Give host:port (for example 127.0.0.1:5432).',
    );
  }
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  const colons = text.split(':').length - 1;
  const [host, port] = bracketed
    ? [bracketed[1] ?? '', bracketed[2]]
    : colons > 1
      ? [text, undefined]
      : [text.split(':')[0] ?? '', colons === 1 ? text.slice(text.indexOf(':') + 1) : undefined];
  if (host === '' || /[\s/@?#]/.test(host)) {
    throw errors.configInvalid(
      `[database] host ${JSON.stringify(text)} is not a host name or address.`,
      'Write host:port.',
    );
  }
  if (port === undefined) return { host };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
    throw errors.configInvalid(
      `[database] host ${JSON.stringify(text)} has the port ${JSON.stringify(port)}, not a number from 1 to 65535.`,
      'Write host:port, for example db.example.com:5432.',
    );
  }
  return { host, port: n };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
